"""Providers kept in the database (``provider_source: database``) over the admin API, against
the gateway under gunicorn (two workers) and a real OpenLDAP directory: adding an LDAP provider
makes its users sign in on the Registry's password path without a restart, secrets are stored
encrypted and never shown back, every change is audited without secrets, hostile input is a
4xx JSON answer, and file mode refuses every change."""

from __future__ import annotations

import json

import pytest
import requests
from click.testing import CliRunner

from gateway.cli import main
from tests.support import ldapdata as data
from tests.support.adminapi import CSRF, AdminClient, admin_ui_browser, registry_answer, start_admin_gateway

pytestmark = pytest.mark.integration

CONFIG = """
usernames: {lowercase: true}
mapping:
  rules:
    - name: developers
      match: {group: developers}
      roles: [pilot]
      maxStorageMB: 1024
    - name: admins
      match: {group: drone-admins}
      roles: [admin]
mapping_source: file
"""


def ldap_settings(url: str, **overrides) -> dict:
    settings = {
        "preset": "openldap",
        "servers": [url],
        "bind": {"dn": data.SERVICE_DN, "password": data.SERVICE_PASSWORD},
        "user": {"base": data.PEOPLE_DN},
        "groups": {"base": data.GROUPS_DN, "strategies": ["member"], "nested": True},
        "connect_timeout_seconds": 1,
        "operation_timeout_seconds": 2,
        "login_timeout_seconds": 4,
    }
    settings.update(overrides)
    return settings


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gateway = start_admin_gateway(tmp_path_factory.mktemp("provider-configs"), CONFIG, users=[])
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def admin(gateway):
    return AdminClient.login(gateway.url)


def _alice(gateway) -> requests.Response:
    return registry_answer(gateway, username="alice", password=data.password_for("alice"))


def _scalars(gateway, sql: str, *params) -> list:
    services = gateway.services()
    try:
        with services.database.engine.connect() as connection:
            return connection.exec_driver_sql(sql, params).scalars().all()
    finally:
        services.close()


def _audit(gateway, event: str) -> list[str]:
    rows = _scalars(gateway, "select detail from audit_events where event = ? order by id", event)
    return [row if isinstance(row, str) else json.dumps(row) for row in rows]


def _stored_secrets(gateway) -> list[bytes]:
    return _scalars(gateway, "select secrets from configured_providers")


def test_an_ldap_provider_added_over_the_api_signs_its_users_in_without_a_restart(gateway, admin, slapd):
    assert _alice(gateway).status_code == 401  # no directory yet
    listed = admin.get("/providers/configured").json()
    assert listed["source"] == "database" and listed["editable"] is True
    assert [p["id"] for p in listed["providers"]] == ["local"]

    created = admin.post(
        "/providers", json={"id": "directory", "type": "ldap", "settings": ldap_settings(slapd.url)}
    )
    assert created.status_code == 201, created.text
    assert created.json()["settings"]["bind"]["password"] == "(set)"
    assert created.json()["active"] is True

    # Two workers: whichever answers has the provider within the refresh interval (1 s).
    for _ in range(6):
        answer = _alice(gateway)
        assert answer.status_code == 200, answer.text
        assert answer.json()["roles"] == ["pilot"]
        assert answer.json()["maxStorageMB"] == 1024


def test_secrets_are_encrypted_at_rest_never_shown_and_never_audited(gateway, admin, slapd):
    item = admin.get("/providers/directory").json()
    assert item["settings"]["bind"] == {"dn": data.SERVICE_DN, "password": "(set)"}
    for blob in _stored_secrets(gateway):
        assert blob is None or data.SERVICE_PASSWORD.encode() not in blob
    assert any(blob for blob in _stored_secrets(gateway))
    everything = " ".join(_audit(gateway, "provider_added") + _audit(gateway, "provider_changed"))
    assert "admin" in everything and data.SERVICE_PASSWORD not in everything
    assert data.SERVICE_PASSWORD not in admin.get("/providers/configured").text


def test_an_edit_that_leaves_the_secret_out_keeps_it(gateway, admin, slapd):
    settings = ldap_settings(slapd.url)
    settings["bind"] = {"dn": data.SERVICE_DN, "password": "(set)"}
    settings["groups"] = {"base": data.GROUPS_DN, "strategies": ["member"], "nested": False}
    response = admin.put("/providers/directory", json={"settings": settings})
    assert response.status_code == 200, response.text
    assert response.json()["settings"]["bind"]["password"] == "(set)"
    for _ in range(4):
        assert _alice(gateway).status_code == 200
    assert _audit(gateway, "provider_changed")


def test_a_wrong_secret_is_replaced_and_takes_effect(gateway, admin, slapd):
    settings = ldap_settings(slapd.url, bind={"dn": data.SERVICE_DN, "password": "not-the-password"})
    assert admin.put("/providers/directory", json={"settings": settings}).status_code == 200
    assert {_alice(gateway).status_code for _ in range(4)} == {503}
    assert admin.put("/providers/directory", json={"settings": ldap_settings(slapd.url)}).status_code == 200
    assert {_alice(gateway).status_code for _ in range(4)} == {200}


def test_disable_enable_and_remove(gateway, admin, slapd):
    assert admin.post("/providers/directory/disable").json()["enabled"] is False
    assert {_alice(gateway).status_code for _ in range(4)} == {401}
    assert admin.post("/providers/directory/enable").json()["active"] is True
    assert {_alice(gateway).status_code for _ in range(4)} == {200}
    assert (
        admin.post(
            "/providers", json={"id": "second", "type": "ldap", "settings": ldap_settings(slapd.url)}
        ).status_code
        == 201
    )
    moved = admin.post("/providers/second/move", json={"position": 0})
    assert moved.status_code == 200 and moved.json()["position"] == 0
    order = [p["id"] for p in admin.get("/providers/configured").json()["providers"]]
    assert order == ["local", "second", "directory"]
    assert admin.delete("/providers/second").status_code == 204
    assert admin.get("/providers/second").status_code == 404
    assert _audit(gateway, "provider_removed") and _audit(gateway, "provider_moved")


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({"id": "Bad Id", "type": "ldap", "settings": {}}, 400, "id"),
        ({"id": "x", "type": "local", "settings": {}}, 400, "type"),
        ({"id": "x", "type": "ldap", "settings": []}, 400, "settings"),
        ({"id": "x", "type": "ldap", "settings": {"servers": ["ftp://nope"]}}, 400, None),
        ({"id": "x", "type": "ldap", "settings": {"servers": ["ldap://h"], "colour": 1}}, 400, None),
        (
            {"id": "local", "type": "ldap", "settings": {"servers": ["ldap://h"], "user": {"base": "dc=x"}}},
            409,
            "id",
        ),
        ({"id": "configured", "type": "ldap", "settings": {}}, 400, "id"),
        (
            {"id": "x", "type": "oidc", "settings": {"issuer": "https://idp.example", "client_id": "c"}},
            400,
            None,
        ),
        ({"id": "x", "type": "ldap"}, 400, "settings"),
        ({"id": "x", "type": "ldap", "settings": {}, "extra": 1}, 400, "extra"),
    ],
)
def test_hostile_or_invalid_input_is_a_4xx_json_answer(admin, body, status, field):
    response = admin.post("/providers", json=body)
    assert response.status_code == status, response.text
    assert "error" in response.json()
    if field:
        assert response.json()["field"] == field


def test_every_problem_of_the_settings_is_named_at_once(admin):
    response = admin.post(
        "/providers",
        json={"id": "many", "type": "ldap", "settings": {"servers": ["ftp://x"], "pool_size": 0}},
    )
    assert response.status_code == 400
    fields = response.json()["fields"]
    assert {"settings.servers[0]", "settings.pool_size", "settings.user"} <= set(fields)


def test_hostile_bodies(gateway, admin):
    for raw in (b"[]", b'{"id": "a", "id": "b"}', b"{" * 200, b"\xff"):
        response = admin.request("POST", "/providers", data=raw, headers={"Content-Type": "application/json"})
        assert 400 <= response.status_code < 500, raw
    assert admin.post("/providers/nope/move", json={"position": "x"}).status_code == 400
    assert admin.post("/providers/nope/enable").status_code == 404
    assert admin.put("/providers/local", json={"settings": {}}).status_code == 409
    assert admin.delete("/providers/local").status_code == 409


def test_only_admins(gateway):
    for method, path in (
        ("GET", "/providers/configured"),
        ("POST", "/providers"),
        ("DELETE", "/providers/x"),
    ):
        assert requests.request(method, f"{gateway.url}/admin/api{path}", timeout=30).status_code == 401


def test_file_mode_is_read_only(tmp_path, slapd):
    config = CONFIG + "providers:\n  - {id: local, type: local}\n"
    gateway = start_admin_gateway(tmp_path, config, users=[])
    try:
        admin = AdminClient.login(gateway.url)
        listed = admin.get("/providers/configured").json()
        assert listed["source"] == "file" and listed["editable"] is False
        response = admin.post(
            "/providers", json={"id": "directory", "type": "ldap", "settings": ldap_settings(slapd.url)}
        )
        assert response.status_code == 409 and "provider_source" in response.json()["error"]
        browser = admin_ui_browser(gateway.url)
        page = browser.get(f"{gateway.url}/admin/providers", timeout=30)
        assert 'id="providers-read-only"' in page.text and 'id="add-ldap"' not in page.text
        assert browser.get(f"{gateway.url}/admin/providers/new/ldap", timeout=30).status_code == 409
    finally:
        gateway.stop()


def test_file_mode_names_the_database_providers_it_leaves_out(tmp_path, slapd):
    """Providers added in the admin API, then a config file that lists its providers (file
    mode): start-up logs it, check-config warns, and the Providers page says so."""
    before = start_admin_gateway(tmp_path, CONFIG, users=[])
    try:
        added = AdminClient.login(before.url).post(
            "/providers", json={"id": "directory", "type": "ldap", "settings": ldap_settings(slapd.url)}
        )
        assert added.status_code == 201, added.text
    finally:
        before.stop()
    gateway = start_admin_gateway(tmp_path, CONFIG + "providers:\n  - {id: local, type: local}\n", users=[])
    try:
        said = (
            "so the 1 provider kept in the database (directory), added in the admin UI or API, "
            "are not in force"
        )
        assert gateway.server.log_text().count(said) == 1
        checked = CliRunner().invoke(main, ["check-config"], env=gateway.env)
        assert (
            checked.exit_code == 0
            and f"warning: provider_source is file (the config file lists its providers), {said}"
            in checked.output
        )
        page = admin_ui_browser(gateway.url).get(f"{gateway.url}/admin/providers", timeout=30)
        assert 'id="configured-ignored"' in page.text and "(directory)" in page.text
    finally:
        gateway.stop()


def test_the_ui_forms_need_the_csrf_token_and_refuse_bad_input_with_a_form_error(gateway):
    browser = admin_ui_browser(gateway.url)
    url = f"{gateway.url}/admin/providers/new/ldap"
    form = browser.get(url, timeout=30)
    assert form.status_code == 200
    refused = browser.post(
        url, data={"id": "nocsrf", "servers": "ldap://h"}, timeout=30, allow_redirects=False
    )
    assert refused.status_code == 403
    token = CSRF.search(form.text).group(1)
    for fields in (
        {"id": "Bad Id", "servers": "ldap://h", "user_base": "dc=x"},
        {"id": "yaml", "servers": "ldap://h", "user_base": "dc=x", "extra": "- not: a mapping"},
        {"id": "x", "servers": "ftp://h", "user_base": "dc=x", "group_strategies": "nonsense"},
    ):
        answer = browser.post(url, data={"csrf_token": token, **fields}, timeout=30, allow_redirects=False)
        assert answer.status_code == 400, fields
        assert 'class="error-summary"' in answer.text and "Traceback" not in answer.text
    nul = browser.post(url, data={"csrf_token": token, "id": "x\x00"}, timeout=30, allow_redirects=False)
    assert nul.status_code == 400 and "Traceback" not in nul.text
    assert browser.get(f"{gateway.url}/admin/providers/new/local", timeout=30).status_code == 404
    assert browser.get(f"{gateway.url}/admin/providers/nope/edit", timeout=30).status_code == 404


def test_the_guided_forms_diagnostics_are_the_apis_operation_audited_and_rate_limited(gateway, admin):
    """ "Test connection" on the unsaved form writes the API's provider_diagnostic audit row
    and counts against the same per-admin limit as POST /admin/api/providers/diagnose."""
    browser = admin_ui_browser(gateway.url)
    url = f"{gateway.url}/admin/providers/new/ldap"
    token = CSRF.search(browser.get(url, timeout=30).text).group(1)
    form = {
        "csrf_token": token,
        "id": "unsaved-dir",
        "servers": "ldap://127.0.0.1:1",
        "user_base": data.PEOPLE_DN,
        "bind_dn": data.SERVICE_DN,
        "bind_password": "form-Secret-never-audited",
        "action": "connection",
    }
    before = len(_audit(gateway, "provider_diagnostic"))
    checked = browser.post(url, data=form, timeout=30)
    assert checked.status_code == 200, checked.text
    assert "Test connection" in checked.text
    rows = _audit(gateway, "provider_diagnostic")
    assert len(rows) == before + 1
    assert '"action": "connection"' in rows[-1] and "form-Secret-never-audited" not in rows[-1]
    assert "unsaved-dir" in " ".join(
        _scalars(gateway, "select provider from audit_events where event = ?", "provider_diagnostic")
    )

    empty = browser.post(url, data={**form, "action": "search"}, timeout=30)
    assert empty.status_code == 400 and "Enter a username to look up" in empty.text

    # The API and the form draw on one allowance: 30 a minute per admin (two windows at most).
    api = {
        "provider": {
            "id": "unsaved-dir",
            "type": "ldap",
            "servers": ["ldap://127.0.0.1:1"],
            "user": {"base": data.PEOPLE_DN},
        },
        "action": "connection",
    }
    statuses: list[tuple[str, int]] = []
    for _ in range(31):
        statuses.append(("api", admin.post("/providers/diagnose", json=api).status_code))
        statuses.append(("form", browser.post(url, data=form, timeout=30).status_code))
        if {status for _, status in statuses[-2:]} == {429}:
            break
    assert {status for _, status in statuses} == {200, 429}, statuses
    assert statuses[-2:] == [("api", 429), ("form", 429)]
    limited = browser.post(url, data=form, timeout=30)
    assert limited.status_code == 429 and "too many diagnostics in a minute" in limited.text.lower()
