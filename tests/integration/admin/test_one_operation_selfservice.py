"""The one-operation tables of ``test_one_operation.py`` for what a person does for themselves
(issue 14: self-service is a client too), against the gateway under gunicorn and a real SMTP
server (aiosmtpd on loopback):

- an app password created and revoked from the admin API's ``/me/app-passwords`` and from the
  account page: the same checks, and the same audit rows naming the person as the actor;
- a password set through the e-mailed reset link, and through the change page a person with a
  temporary password lands on: like an admin's reset, every session (and its tokens) ends and
  every app password and API key is revoked, with one audit row naming the person.

One's own change from ``/account`` and ``/users/changepwd`` has its table in
``test_one_operation.py``.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import requests

from tests.support.adminapi import (
    CSRF,
    PASSWORD,
    AdminClient,
    admin_api_works,
    registry_answer,
    registry_token,
    start_admin_gateway,
)
from tests.support.servers import free_port
from tests.support.smtpserver import SmtpServer, text_part

pytestmark = pytest.mark.integration
NEW_PASSWORD = "amber-thicket-63-lighthouse"
TEMPORARY = "temporary-cobalt-48-meadow"
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/password/reset/[A-Za-z0-9_-]{43})")
SHOWN = re.compile(r'id="new-app-password">([^<]+)<')


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    server = SmtpServer(tmp_path_factory.mktemp("smtp")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, smtp):
    port = free_port()
    config = f"""
usernames: {{lowercase: true}}
email:
  smtp: {{host: 127.0.0.1, port: {smtp.port}, security: none}}
  sender: registry@example.org
  timeout_seconds: 3
self_service:
  password_reset: true
  max_requests_per_client: 1000
"""
    server = start_admin_gateway(
        tmp_path_factory.mktemp("one-operation-self"),
        config,
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(gateway):
    return AdminClient.login(gateway.url)


def _browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def _sign_in(gateway, name: str, password: str) -> requests.Session:
    """A browser signed in with the sign-in form (or holding the change ticket it hands out)."""
    browser = _browser()
    form = browser.get(f"{gateway.url}/login", timeout=10)
    answer = browser.post(
        f"{gateway.url}/login",
        data={"csrf_token": CSRF.search(form.text).group(1), "username": name, "password": password},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303, answer.text[:300]
    return browser


def _new_user(admin) -> str:
    name = f"s{uuid.uuid4().hex[:10]}"
    created = admin.post(
        "/users", json={"userName": name, "password": PASSWORD, "email": f"{name}@example.org"}
    )
    assert created.status_code == 201, created.text
    return name


def _audit_rows(gateway, username: str, event: str) -> list[dict]:
    services = gateway.services()
    try:
        with services.database.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "select detail from audit_events where username = ? and event = ? order by id",
                (username, event),
            ).scalars()
            return [json.loads(row) if isinstance(row, str) else row for row in rows]
    finally:
        services.close()


# ---- app passwords: the admin API's /me endpoints and the account page -----------------------
def _create_api(gateway, name: str) -> tuple[str, str]:
    own = AdminClient.login(gateway.url, name, PASSWORD)
    created = own.post("/me/app-passwords", json={"name": "qgis", "expiresDays": 30})
    assert created.status_code == 201, created.text
    return created.json()["id"], created.json()["secret"]


def _create_page(gateway, name: str) -> tuple[str, str]:
    browser = _sign_in(gateway, name, PASSWORD)
    page = browser.get(f"{gateway.url}/account", timeout=10)
    made = browser.post(
        f"{gateway.url}/account/app-passwords",
        data={"csrf_token": CSRF.search(page.text).group(1), "name": "qgis", "expires_days": "30"},
        timeout=30,
    )
    assert made.status_code == 200, made.text[:300]
    secret = SHOWN.search(made.text).group(1)
    (view,) = AdminClient.login(gateway.url, name, PASSWORD).get("/me/app-passwords").json()
    return view["id"], secret


def _revoke_api(gateway, name: str, public_id: str) -> None:
    assert (
        AdminClient.login(gateway.url, name, PASSWORD).delete(f"/me/app-passwords/{public_id}").status_code
        == 204
    )


def _revoke_page(gateway, name: str, public_id: str) -> None:
    browser = _sign_in(gateway, name, PASSWORD)
    page = browser.get(f"{gateway.url}/account", timeout=10)
    answer = browser.post(
        f"{gateway.url}/account/app-passwords/{public_id}/revoke",
        data={"csrf_token": CSRF.search(page.text).group(1)},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303


APP_PASSWORD = {"api": (_create_api, _revoke_api), "page": (_create_page, _revoke_page)}


@pytest.mark.parametrize("client", list(APP_PASSWORD))
def test_an_app_password_is_made_and_revoked_alike_from_every_client(gateway, admin, client):
    name = _new_user(admin)
    create, revoke = APP_PASSWORD[client]
    public_id, secret = create(gateway, name)
    assert registry_answer(gateway, username=name, password=secret).status_code == 200
    (made,) = _audit_rows(gateway, name, "app_password_created")
    assert made.get("actor") == name and made.get("app_password") == public_id, made

    revoke(gateway, name, public_id)
    assert registry_answer(gateway, username=name, password=secret).status_code == 401
    (revoked,) = _audit_rows(gateway, name, "app_password_revoked")
    assert revoked.get("actor") == name and revoked.get("app_password") == public_id, revoked


def test_the_account_page_refuses_what_the_api_refuses(gateway, admin):
    name = _new_user(admin)
    browser = _sign_in(gateway, name, PASSWORD)
    csrf = CSRF.search(browser.get(f"{gateway.url}/account", timeout=10).text).group(1)
    for fields in ({"name": ""}, {"name": "x", "expires_days": "0"}, {"name": "x", "expires_days": "4000"}):
        answer = browser.post(
            f"{gateway.url}/account/app-passwords", data={"csrf_token": csrf, **fields}, timeout=30
        )
        assert answer.status_code == 400 and 'id="form-error"' in answer.text, fields
    # An id of the wrong shape, or someone else's, changes nothing and is no error page.
    other = _new_user(admin)
    public_id, secret = _create_api(gateway, other)
    for wrong in (public_id, "x" * 300, "../etc"):
        answer = browser.post(
            f"{gateway.url}/account/app-passwords/{wrong}/revoke",
            data={"csrf_token": csrf},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code in (303, 404), (wrong, answer.status_code)
    assert registry_answer(gateway, username=other, password=secret).status_code == 200
    assert _audit_rows(gateway, name, "app_password_created") == []
    assert _audit_rows(gateway, other, "app_password_revoked") == []


# ---- a password set by the person: the e-mailed link, the temporary password's page ---------
def _held(gateway, name: str, *, admin_token: bool = True) -> dict[str, str]:
    """A Registry session token, an admin API token (unless the user cannot get one yet), an app
    password and an API key of the user, each checked to work."""
    services = gateway.services()
    try:
        _, app_password = services.app_passwords.create(name, "qgis")
        _, api_key = services.api_keys.create(name, "ci")
    finally:
        services.close()
    held = {"registry_token": registry_token(gateway, name), "app_password": app_password, "api_key": api_key}
    if admin_token:
        held["admin_token"] = AdminClient.login(gateway.url, name, PASSWORD).token
    assert registry_answer(gateway, token=held["registry_token"]).status_code == 200
    assert AdminClient(gateway.url, api_key).get("/me").status_code == 200
    return held


def _by_reset_link(gateway, smtp, admin, name: str) -> dict[str, str]:
    held = _held(gateway, name)
    assert registry_answer(gateway, username=name, password=held["app_password"]).status_code == 200
    smtp.clear()
    browser = _browser()
    form = browser.get(f"{gateway.url}/password/forgot", timeout=10)
    asked = browser.post(
        f"{gateway.url}/password/forgot",
        data={"csrf_token": CSRF.search(form.text).group(1), "identifier": name},
        timeout=30,
    )
    assert asked.status_code == 200, asked.text[:300]
    (message,) = smtp.wait_for(1)
    link = LINK.search(text_part(message)).group(1)
    page = browser.get(link, timeout=10)
    done = browser.post(
        link,
        data={
            "csrf_token": CSRF.search(page.text).group(1),
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
        timeout=30,
    )
    assert done.status_code == 200 and 'id="reset-done"' in done.text, done.text[:300]
    return held


def _by_temporary_page(gateway, smtp, admin, name: str) -> dict[str, str]:
    set_it = admin.put(
        f"/users/{name}/changepwd", json={"newPassword": TEMPORARY, "mustChangePassword": True}
    )
    assert set_it.status_code == 204, set_it.text
    # What the person holds from now on: the admin's reset ended what they had before.
    held = _held(gateway, name, admin_token=False)
    browser = _sign_in(gateway, name, TEMPORARY)
    form = browser.get(f"{gateway.url}/password/change", timeout=10)
    done = browser.post(
        f"{gateway.url}/password/change",
        data={
            "csrf_token": CSRF.search(form.text).group(1),
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
        timeout=30,
    )
    assert done.status_code == 200 and 'id="change-done"' in done.text, done.text[:300]
    return held


# way -> (change the password as the person, its audit event)
OWN_WAYS = {
    "reset-link": (_by_reset_link, "password_reset_by_email"),
    "temporary-page": (_by_temporary_page, "temporary_password_changed"),
}


@pytest.mark.parametrize("way", list(OWN_WAYS))
def test_a_password_the_person_sets_ends_sessions_and_secrets_like_every_reset(gateway, smtp, admin, way):
    name = _new_user(admin)
    change, event = OWN_WAYS[way]
    held = change(gateway, smtp, admin, name)

    assert registry_answer(gateway, token=held["registry_token"]).status_code == 401
    if "admin_token" in held:
        assert not admin_api_works(gateway, held["admin_token"])
    assert registry_answer(gateway, username=name, password=held["app_password"]).status_code == 401
    assert AdminClient(gateway.url, held["api_key"]).get("/me").status_code == 401
    assert registry_answer(gateway, username=name, password=NEW_PASSWORD).status_code == 200
    rows = _audit_rows(gateway, name, event)
    assert len(rows) == 1 and rows[0].get("actor") == name, rows
