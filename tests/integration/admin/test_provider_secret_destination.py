"""A stored provider secret (an LDAP bind password, an OIDC client secret) goes only where it
was entered for: over the admin API and the admin UI (gunicorn, a real OpenLDAP directory), a
change of the servers or the issuer that leaves the secret out is refused naming the secret,
and the edit form's "Test connection" on a changed, unsaved address sends nothing there (a
listening socket that nobody connects to proves it)."""

from __future__ import annotations

import json
import socket

import pytest

from tests.support import ldapdata as data
from tests.support.adminapi import CSRF, AdminClient, admin_ui_browser, start_admin_gateway

pytestmark = pytest.mark.integration

CONFIG = "usernames: {lowercase: true}\nmapping_source: file\n"


def _ldap(url: str, password: str = data.SERVICE_PASSWORD) -> dict:
    return {
        "preset": "openldap",
        "servers": [url],
        "bind": {"dn": data.SERVICE_DN, "password": password},
        "user": {"base": data.PEOPLE_DN},
        "groups": {"base": data.GROUPS_DN, "strategies": ["member"], "nested": True},
        "connect_timeout_seconds": 1,
        "operation_timeout_seconds": 2,
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, slapd):
    gateway = start_admin_gateway(tmp_path_factory.mktemp("secret-destination"), CONFIG, users=[])
    admin = AdminClient.login(gateway.url)
    created = admin.post("/providers", json={"id": "dir", "type": "ldap", "settings": _ldap(slapd.url)})
    assert created.status_code == 201, created.text
    yield gateway
    gateway.stop()


class Trap:
    """A listening socket standing for a server the secret must not reach: ``reached()`` says
    whether anything connected to it (the kernel completes a connection without accept)."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.listener.setblocking(False)
        self.url = f"ldap://127.0.0.1:{self.listener.getsockname()[1]}"

    def reached(self) -> bool:
        try:
            connection, _ = self.listener.accept()
        except BlockingIOError:
            return False
        connection.close()
        return True


@pytest.fixture
def trap():
    trap = Trap()
    yield trap
    trap.listener.close()


def _changes(gateway) -> int:
    services = gateway.services()
    try:
        with services.database.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "select count(*) from audit_events where event = 'provider_changed'"
            ).scalar_one()
    finally:
        services.close()
    return int(rows)


def test_the_api_refuses_a_new_server_without_the_password_again(gateway, slapd, trap):
    admin = AdminClient.login(gateway.url)
    before = _changes(gateway)
    for secret in ("(set)", None):
        settings = _ldap(trap.url)
        if secret is None:
            settings["bind"] = {"dn": data.SERVICE_DN}  # left out
        else:
            settings["bind"]["password"] = secret
        refused = admin.put("/providers/dir", json={"settings": settings})
        assert refused.status_code == 400, refused.text
        assert refused.json()["field"] == "settings.bind.password"
        assert "enter it again" in refused.json()["error"] and "servers" in refused.json()["error"]
    assert _changes(gateway) == before
    assert admin.get("/providers/dir").json()["settings"]["servers"] == [slapd.url]
    # The same server with the password left out keeps it; the password typed again is taken.
    assert admin.put("/providers/dir", json={"settings": _ldap(slapd.url, "(set)")}).status_code == 200
    moved = slapd.url.replace("127.0.0.1", "localhost")
    assert admin.put("/providers/dir", json={"settings": _ldap(moved)}).status_code == 200
    assert admin.put("/providers/dir", json={"settings": _ldap(slapd.url)}).status_code == 200
    assert _changes(gateway) == before + 3
    assert not trap.reached()


def test_an_oidc_issuer_change_needs_the_client_secret_again(gateway):
    admin = AdminClient.login(gateway.url)
    settings = {
        "issuer": "https://idp.example",
        "client_id": "gw",
        "client_secret": "client-Secret-9",
        "browser_login": False,
        "tokens": {"access_token_audiences": ["api"]},
    }
    created = admin.post(
        "/providers", json={"id": "idp", "type": "oidc", "settings": settings, "enabled": False}
    )
    assert created.status_code == 201, created.text
    moved = {**settings, "issuer": "https://elsewhere.example", "client_secret": "(set)"}
    refused = admin.put("/providers/idp", json={"settings": moved})
    assert refused.status_code == 400 and refused.json()["field"] == "settings.client_secret"
    assert admin.put("/providers/idp", json={"settings": {**moved, "client_secret": "s2"}}).status_code == 200
    assert admin.delete("/providers/idp").status_code == 204


def _form(url: str, **fields) -> dict:
    return {
        "preset": "openldap",
        "servers": url,
        "bind_dn": data.SERVICE_DN,
        "bind_password": "",
        "user_base": data.PEOPLE_DN,
        "groups_base": data.GROUPS_DN,
        "group_strategies": "member",
        "nested": "on",
        "enabled": "on",
        "extra": "connect_timeout_seconds: 1\noperation_timeout_seconds: 2\n",
        **fields,
    }


def test_the_edit_form_never_sends_the_stored_password_to_a_changed_address(gateway, slapd, trap):
    browser = admin_ui_browser(gateway.url)
    url = f"{gateway.url}/admin/providers/dir/edit"
    token = CSRF.search(browser.get(url, timeout=30).text).group(1)
    before = _changes(gateway)
    for action in ("connection", "search", "groups", "save"):
        answer = browser.post(
            url,
            data={"csrf_token": token, "action": action, "probe_username": "alice", **_form(trap.url)},
            timeout=30,
            allow_redirects=False,
        )
        assert answer.status_code == 400, (action, answer.text)
        assert 'id="f-bind_password-error"' in answer.text and "Enter it again" in answer.text
    assert not trap.reached()
    assert _changes(gateway) == before
    # Where it was entered for, the stored password is used without being typed.
    same = browser.post(
        url, data={"csrf_token": token, "action": "connection", **_form(slapd.url)}, timeout=30
    )
    assert same.status_code == 200 and "f-bind_password-error" not in same.text
    assert data.SERVICE_PASSWORD not in same.text
    stored = AdminClient.login(gateway.url).get("/providers/dir").json()
    assert json.dumps(stored["settings"]).count("(set)") == 1
