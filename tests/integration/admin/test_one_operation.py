"""Each state change is one operation with one set of consequences, whichever client asks
(issue 13, finding 6: ``gateway users set-password`` left the user's sessions alive while the
admin API's reset ended them).

For every operation and every client (the ``gateway`` command in a subprocess, the admin API
over HTTP, the admin UI's form posts with their CSRF token), a fresh user first gets a Registry
token, an admin API token, an app password and an API key; after the operation the sessions
(and so both tokens) are ended, the app password and API key too unless the operation only ends
sessions, and the audit log has exactly one row for the change, naming who made it.

The same table shape covers the other state changes: a temporary password (must change it at
the next sign-in), a new user created with a temporary password, a user's own password change
(self-service: the admin API's ``/users/changepwd`` and the account page), a group membership
added or removed, a per-user quota and a user's per-user roles (the answer to the next sign-in
changes at once, sessions stay). Resetting the second factors has its table in
``test_mfa_reset.py``.

Integration tests: the gateway under gunicorn, the CLI as an operator runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
import requests

from tests.support.adminapi import (
    CSRF,
    PASSWORD,
    AdminClient,
    admin_api_works,
    admin_ui_browser,
    registry_answer,
    registry_token,
    start_admin_gateway,
)
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.integration
NEW_PASSWORD = "amber-thicket-63-lighthouse"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    server = start_admin_gateway(tmp_path_factory.mktemp("one-operation"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def admin(gateway):
    return AdminClient.login(gateway.url)


@pytest.fixture(scope="module")
def admin_ui(gateway) -> requests.Session:
    """A browser signed in to the admin UI as the admin."""
    return admin_ui_browser(gateway.url)


def _ui(gateway, browser: requests.Session, path: str, form: dict[str, str]) -> None:
    """Post an admin UI form as the page would, with its CSRF token; the UI answers a done
    change with a redirect."""
    page = browser.get(f"{gateway.url}/admin/sessions", timeout=10)
    assert page.status_code == 200, page.text[:300]
    response = browser.post(
        f"{gateway.url}{path}",
        data={**form, "csrf_token": CSRF.search(page.text).group(1)},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 303, (response.status_code, response.text[:500])
    assert "/login" not in response.headers["Location"], response.headers["Location"]


def _cli(gateway, *args: str, stdin: str | None = None) -> None:
    env = {**gateway.env, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=REPO_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def _api(response: requests.Response) -> None:
    assert response.status_code < 300, (response.status_code, response.text[:500])


# operation -> client -> how that client does it to the user ``name``. Each takes
# (gateway, admin API client, admin UI browser, name).
CLIENTS = {
    "set-password": {
        "cli": lambda gw, api, ui, name: _cli(
            gw, "users", "set-password", name, "--password-stdin", stdin=NEW_PASSWORD + "\n"
        ),
        "api": lambda gw, api, ui, name: _api(
            api.put(f"/users/{name}/changepwd", json={"newPassword": NEW_PASSWORD})
        ),
        "ui": lambda gw, api, ui, name: _ui(
            gw,
            ui,
            f"/admin/users/{name}/password",
            {"newPassword": NEW_PASSWORD, "confirmPassword": NEW_PASSWORD},
        ),
    },
    "disable": {
        "cli": lambda gw, api, ui, name: _cli(gw, "users", "disable", name),
        "api": lambda gw, api, ui, name: _api(api.put(f"/users/{name}", json={"enabled": False})),
        "ui": lambda gw, api, ui, name: _ui(gw, ui, f"/admin/users/{name}/status", {"enabled": "0"}),
    },
    "delete": {
        "cli": lambda gw, api, ui, name: _cli(gw, "users", "delete", name, "--yes"),
        "api": lambda gw, api, ui, name: _api(api.delete(f"/users/{name}")),
        "ui": lambda gw, api, ui, name: _ui(gw, ui, f"/admin/users/{name}/delete", {}),
    },
    "end-sessions": {
        "cli": lambda gw, api, ui, name: _cli(gw, "sessions", "end", name),
        "api": lambda gw, api, ui, name: _api(api.delete("/sessions", params={"username": name})),
        "ui": lambda gw, api, ui, name: _ui(gw, ui, "/admin/sessions/revoke-user", {"username": name}),
    },
}
AUDITED_AS = {
    "set-password": "password_reset",
    "disable": "user_disabled",
    "delete": "user_deleted",
    "end-sessions": "sessions_revoked",
}
# Ending sessions is only that: the user's app passwords and API keys keep working.
KEEPS_SECRETS = {"end-sessions"}
ENABLE = {
    "cli": lambda gw, api, ui, name: _cli(gw, "users", "enable", name),
    "api": lambda gw, api, ui, name: _api(api.put(f"/users/{name}", json={"enabled": True})),
    "ui": lambda gw, api, ui, name: _ui(gw, ui, f"/admin/users/{name}/status", {"enabled": "1"}),
}


def _user_with_everything(gateway, admin) -> dict[str, str]:
    name = f"u{uuid.uuid4().hex[:10]}"
    assert admin.post("/users", json={"userName": name, "password": PASSWORD}).status_code == 201
    own = AdminClient.login(gateway.url, name, PASSWORD)
    app_password = own.post("/me/app-passwords", json={"name": "qgis"}).json()["secret"]
    api_key = own.post("/me/api-keys", json={"name": "ci"}).json()["secret"]
    held = {
        "name": name,
        "registry_token": registry_token(gateway, name),
        "admin_token": own.token,
        "app_password": app_password,
        "api_key": api_key,
    }
    assert registry_answer(gateway, token=held["registry_token"]).status_code == 200
    assert registry_answer(gateway, username=name, password=app_password).status_code == 200
    assert AdminClient(gateway.url, api_key).get("/me").status_code == 200
    return held


def _audit_rows(gateway, username: str) -> list[tuple[str, dict]]:
    services = gateway.services()
    try:
        with services.database.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "select event, detail from audit_events where username = ? order by id", (username,)
            ).all()
    finally:
        services.close()
    return [(event, json.loads(detail) if isinstance(detail, str) else detail) for event, detail in rows]


def _actor_is(client: str, actor) -> bool:
    return actor == "admin" if client in ("api", "ui") else str(actor).startswith("cli:")


@pytest.mark.parametrize("client", ["cli", "api", "ui"])
@pytest.mark.parametrize("operation", list(CLIENTS))
def test_each_operation_has_the_same_consequences_from_every_client(
    gateway, admin, admin_ui, operation, client
):
    held = _user_with_everything(gateway, admin)
    name = held["name"]
    CLIENTS[operation][client](gateway, admin, admin_ui, name)

    assert registry_answer(gateway, token=held["registry_token"]).status_code == 401
    assert not admin_api_works(gateway, held["admin_token"])
    secrets_work = operation in KEEPS_SECRETS
    app_password = registry_answer(gateway, username=name, password=held["app_password"])
    assert app_password.status_code == (200 if secrets_work else 401)
    assert AdminClient(gateway.url, held["api_key"]).get("/me").status_code == (200 if secrets_work else 401)
    if operation == "set-password":
        assert registry_answer(gateway, username=name, password=PASSWORD).status_code == 401
        assert registry_answer(gateway, username=name, password=NEW_PASSWORD).status_code == 200

    rows = [(event, detail) for event, detail in _audit_rows(gateway, name) if event == AUDITED_AS[operation]]
    assert len(rows) == 1, rows
    assert _actor_is(client, rows[0][1].get("actor")), rows


@pytest.mark.parametrize("client", list(ENABLE))
def test_enabling_a_disabled_user_has_the_same_consequences_from_every_client(
    gateway, admin, admin_ui, client
):
    held = _user_with_everything(gateway, admin)
    name = held["name"]
    _api(admin.put(f"/users/{name}", json={"enabled": False}))
    assert registry_answer(gateway, username=name, password=PASSWORD).status_code != 200

    ENABLE[client](gateway, admin, admin_ui, name)

    assert registry_answer(gateway, username=name, password=PASSWORD).status_code == 200
    # What the disabling ended stays ended.
    assert registry_answer(gateway, token=held["registry_token"]).status_code == 401
    assert registry_answer(gateway, username=name, password=held["app_password"]).status_code == 401
    rows = [(event, detail) for event, detail in _audit_rows(gateway, name) if event == "user_enabled"]
    assert len(rows) == 1, rows
    assert _actor_is(client, rows[0][1].get("actor")), rows


# ---- a temporary password: the user must choose their own at the next sign-in ---------------
TEMPORARY = {
    "cli": lambda gw, api, ui, name: _cli(
        gw, "users", "set-password", name, "--password-stdin", "--temporary", stdin=NEW_PASSWORD + "\n"
    ),
    "api": lambda gw, api, ui, name: _api(
        api.put(f"/users/{name}/changepwd", json={"newPassword": NEW_PASSWORD, "mustChangePassword": True})
    ),
    "ui": lambda gw, api, ui, name: _ui(
        gw,
        ui,
        f"/admin/users/{name}/password",
        {"newPassword": NEW_PASSWORD, "confirmPassword": NEW_PASSWORD, "mustChangePassword": "1"},
    ),
}


@pytest.mark.parametrize("client", list(TEMPORARY))
def test_a_temporary_password_has_the_same_consequences_from_every_client(gateway, admin, admin_ui, client):
    held = _user_with_everything(gateway, admin)
    name = held["name"]
    TEMPORARY[client](gateway, admin, admin_ui, name)

    assert registry_answer(gateway, token=held["registry_token"]).status_code == 401
    assert not admin_api_works(gateway, held["admin_token"])
    assert registry_answer(gateway, username=name, password=held["app_password"]).status_code == 401
    assert AdminClient(gateway.url, held["api_key"]).get("/me").status_code == 401
    assert registry_answer(gateway, username=name, password=PASSWORD).status_code == 401
    # The Registry's password path refuses the temporary password until the user replaces it.
    assert registry_answer(gateway, username=name, password=NEW_PASSWORD).status_code == 403
    rows = [detail for event, detail in _audit_rows(gateway, name) if event == "password_reset"]
    assert len(rows) == 1 and rows[0].get("temporary") == "yes", rows
    assert _actor_is(client, rows[0].get("actor")), rows


# ---- a new user with a temporary password: onboarding in one step -----------------------------
CREATE_TEMPORARY = {
    "cli": lambda gw, api, ui, name: _cli(
        gw, "users", "create", name, "--password-stdin", "--temporary", stdin=NEW_PASSWORD + "\n"
    ),
    "api": lambda gw, api, ui, name: _api(
        api.post("/users", json={"userName": name, "password": NEW_PASSWORD, "mustChangePassword": True})
    ),
    "ui": lambda gw, api, ui, name: _ui(
        gw, ui, "/admin/new-user", {"userName": name, "password": NEW_PASSWORD, "mustChangePassword": "1"}
    ),
}


@pytest.mark.parametrize("client", list(CREATE_TEMPORARY))
def test_creating_a_user_with_a_temporary_password_is_one_operation_from_every_client(
    gateway, admin, admin_ui, client
):
    name = f"new-{uuid.uuid4().hex[:8]}"
    CREATE_TEMPORARY[client](gateway, admin, admin_ui, name)

    assert admin.get(f"/users/{name}").json()["mustChangePassword"] is True
    # Refused everywhere but the sign-in form until the user chooses their own.
    refused = registry_answer(gateway, username=name, password=NEW_PASSWORD)
    assert refused.status_code == 403 and "password change required" in refused.json()["error"]
    token = requests.post(
        f"{gateway.url}/api/token", json={"username": name, "password": NEW_PASSWORD}, timeout=30
    )
    assert token.status_code == 403
    browser = requests.Session()
    browser.trust_env = False
    form = browser.get(f"{gateway.url}/login", timeout=10)
    signed_in = browser.post(
        f"{gateway.url}/login",
        data={"csrf_token": CSRF.search(form.text).group(1), "username": name, "password": NEW_PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/password/change"
    # One audit row for the whole onboarding, not a creation and then a reset.
    rows = _audit_rows(gateway, name)
    created = [detail for event, detail in rows if event == "user_created"]
    assert len(created) == 1 and created[0].get("temporary") == "yes", rows
    assert _actor_is(client, created[0].get("actor")), rows
    assert not [event for event, _detail in rows if event == "password_reset"], rows
    # Without the box it is an ordinary password.
    plain = f"plain-{uuid.uuid4().hex[:8]}"
    _api(admin.post("/users", json={"userName": plain, "password": NEW_PASSWORD}))
    assert registry_answer(gateway, username=plain, password=NEW_PASSWORD).status_code == 200


# ---- self-service: a user changes their own password -----------------------------------------
def _own_api(gw, name: str) -> requests.Session:
    """The user's own admin API client, a session of its own; it changes the password."""
    own = AdminClient.login(gw.url, name, PASSWORD)
    _api(own.post("/users/changepwd", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}))
    return own.http


def _own_page(gw, name: str) -> requests.Session:
    """The user's browser, signed in with the sign-in form; the account page changes the password."""
    browser = requests.Session()
    browser.trust_env = False
    form = browser.get(f"{gw.url}/login", timeout=10)
    signed_in = browser.post(
        f"{gw.url}/login",
        data={"csrf_token": CSRF.search(form.text).group(1), "username": name, "password": PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    assert signed_in.status_code in (302, 303), signed_in.text[:300]
    page = browser.get(f"{gw.url}/account", timeout=10)
    assert page.status_code == 200, page.text[:300]
    changed = browser.post(
        f"{gw.url}/account/password",
        data={
            "csrf_token": CSRF.search(page.text).group(1),
            "currentPassword": PASSWORD,
            "newPassword": NEW_PASSWORD,
            "confirmPassword": NEW_PASSWORD,
        },
        allow_redirects=False,
        timeout=30,
    )
    assert changed.status_code == 303, (changed.status_code, changed.text[:500])
    return browser


# client -> (change the password as the user, does the changing session still work)
OWN_PASSWORD = {
    "api": (_own_api, lambda gw, http: http.get(f"{gw.url}/admin/api/me", timeout=10).status_code == 200),
    "page": (
        _own_page,
        lambda gw, http: http.get(f"{gw.url}/account", allow_redirects=False, timeout=10).status_code == 200,
    ),
}


@pytest.mark.parametrize("client", list(OWN_PASSWORD))
def test_changing_ones_own_password_has_the_same_consequences_from_every_client(gateway, admin, client):
    held = _user_with_everything(gateway, admin)
    name = held["name"]
    change, still_signed_in = OWN_PASSWORD[client]
    changer = change(gateway, name)

    # Every other session ends (and its tokens), every app password and API key is revoked;
    # the session that made the change stays.
    assert still_signed_in(gateway, changer)
    assert registry_answer(gateway, token=held["registry_token"]).status_code == 401
    assert not admin_api_works(gateway, held["admin_token"])
    assert registry_answer(gateway, username=name, password=held["app_password"]).status_code == 401
    assert AdminClient(gateway.url, held["api_key"]).get("/me").status_code == 401
    assert registry_answer(gateway, username=name, password=PASSWORD).status_code == 401
    assert registry_answer(gateway, username=name, password=NEW_PASSWORD).status_code == 200
    rows = [detail for event, detail in _audit_rows(gateway, name) if event == "password_changed"]
    assert len(rows) == 1 and rows[0].get("actor") == name, rows


# ---- group membership: the next sign-in's answer changes at once, nothing else ends ---------
GROUP = "one-op-pilots"
MEMBERSHIP = {
    "added": {
        "cli": lambda gw, api, ui, name: _cli(gw, "groups", "add-member", GROUP, name),
        "api": lambda gw, api, ui, name: _api(api.put(f"/groups/{GROUP}/members/{name}")),
        "ui": lambda gw, api, ui, name: _ui(gw, ui, f"/admin/groups/{GROUP}/members", {"username": name}),
    },
    "removed": {
        "cli": lambda gw, api, ui, name: _cli(gw, "groups", "remove-member", GROUP, name),
        "api": lambda gw, api, ui, name: _api(api.delete(f"/groups/{GROUP}/members/{name}")),
        "ui": lambda gw, api, ui, name: _ui(gw, ui, f"/admin/groups/{GROUP}/members/{name}/remove", {}),
    },
}


@pytest.fixture(scope="module")
def pilots(admin):
    """The group, and the rule that gives its members the role ``pilot``."""
    assert admin.post("/groups", json={"name": GROUP}).status_code == 201
    assert admin.post("/users/roles", json={"roleName": "pilot"}).status_code in (200, 201)
    rule = {"name": "one-op-pilots", "match": {"group": GROUP}, "roles": ["pilot"]}
    assert admin.post("/mapping/rules", json={"rule": rule}).status_code == 201
    return GROUP


def _roles(gateway, held) -> list[str]:
    """The roles of the Registry's answer to the user's password (a token's session keeps the
    groups its sign-in found)."""
    answer = registry_answer(gateway, username=held["name"], password=PASSWORD)
    assert answer.status_code == 200, answer.text[:300]
    return answer.json()["roles"]


@pytest.mark.parametrize("client", ["cli", "api", "ui"])
@pytest.mark.parametrize("change", list(MEMBERSHIP))
def test_a_group_membership_change_has_the_same_consequences_from_every_client(
    gateway, admin, admin_ui, pilots, change, client
):
    held = _user_with_everything(gateway, admin)
    name = held["name"]
    if change == "removed":
        _api(admin.put(f"/groups/{GROUP}/members/{name}"))
    had_role = "pilot" in _roles(gateway, held)
    assert had_role == (change == "removed")

    MEMBERSHIP[change][client](gateway, admin, admin_ui, name)

    # The next sign-in maps again: the role comes or goes; every session and secret stays.
    assert ("pilot" in _roles(gateway, held)) == (change == "added")
    assert registry_answer(gateway, token=held["registry_token"]).status_code == 200
    assert admin_api_works(gateway, held["admin_token"])
    assert registry_answer(gateway, username=name, password=held["app_password"]).status_code == 200
    assert AdminClient(gateway.url, held["api_key"]).get("/me").status_code == 200
    members = admin.get(f"/groups/{GROUP}").json()["members"]
    assert (name in members) == (change == "added"), members
    rows = [detail for event, detail in _audit_rows(gateway, name) if event == f"group_member_{change}"]
    assert len(rows) == 1 and rows[0].get("group") == GROUP, rows
    assert _actor_is(client, rows[0].get("actor")), rows


# ---- a per-user quota: the next answer carries it, nothing else ends ------------------------
QUOTA = {
    "cli": lambda gw, api, ui, name: _cli(gw, "users", "set-quota", name, "2048"),
    "api": lambda gw, api, ui, name: _api(api.post(f"/users/{name}/meta", json={"maxStorageMB": 2048})),
    "ui": lambda gw, api, ui, name: _ui(
        gw, ui, f"/admin/users/{name}/values", {"maxStorageMB": "2048", "metadata": ""}
    ),
}


@pytest.mark.parametrize("client", list(QUOTA))
def test_a_per_user_quota_has_the_same_consequences_from_every_client(gateway, admin, admin_ui, client):
    held = _user_with_everything(gateway, admin)
    name = held["name"]
    QUOTA[client](gateway, admin, admin_ui, name)

    answer = registry_answer(gateway, username=name, password=PASSWORD)
    assert answer.status_code == 200 and answer.json().get("maxStorageMB") == 2048, answer.text[:300]
    assert registry_answer(gateway, token=held["registry_token"]).status_code == 200
    assert admin_api_works(gateway, held["admin_token"])
    assert registry_answer(gateway, username=name, password=held["app_password"]).status_code == 200
    assert admin.get(f"/users/{name}/meta").json() == {"maxStorageMB": 2048}
    rows = [detail for event, detail in _audit_rows(gateway, name) if event == "metadata_changed"]
    assert len(rows) == 1 and rows[0].get("keys") == "maxStorageMB", rows
    assert _actor_is(client, rows[0].get("actor")), rows


# ---- per-user roles: the next answer carries them, nothing else ends ------------------------
OWN_ROLES = ["one-op-surveyor", "one-op-mapper"]
PER_USER_ROLES = {
    "cli": lambda gw, api, ui, name: _cli(gw, "users", "set-roles", name, *OWN_ROLES),
    "api": lambda gw, api, ui, name: _api(api.put(f"/users/{name}", json={"roles": OWN_ROLES})),
    # The profile form posts every field of the profile; only the roles differ from the user's.
    "ui": lambda gw, api, ui, name: _ui(
        gw, ui, f"/admin/users/{name}/profile", {"roles": "\n".join(OWN_ROLES), "enabled": "1"}
    ),
}


@pytest.mark.parametrize("client", list(PER_USER_ROLES))
def test_per_user_roles_have_the_same_consequences_from_every_client(gateway, admin, admin_ui, client):
    held = _user_with_everything(gateway, admin)
    name = held["name"]
    assert not set(OWN_ROLES) & set(_roles(gateway, held))
    PER_USER_ROLES[client](gateway, admin, admin_ui, name)

    # The next sign-in's answer has the roles at once; every session and secret stays.
    assert set(OWN_ROLES) <= set(_roles(gateway, held))
    assert registry_answer(gateway, token=held["registry_token"]).status_code == 200
    assert admin_api_works(gateway, held["admin_token"])
    assert registry_answer(gateway, username=name, password=held["app_password"]).status_code == 200
    assert AdminClient(gateway.url, held["api_key"]).get("/me").status_code == 200
    assert set(OWN_ROLES) <= set(admin.get(f"/users/{name}").json()["roles"])
    catalogue = set(admin.get("/users/roles").json())
    assert set(OWN_ROLES) <= catalogue  # a new role name joins the catalogue, from every client
    rows = [detail for event, detail in _audit_rows(gateway, name) if event == "user_updated"]
    assert len(rows) == 1 and "roles" in rows[0].get("fields", "").split(","), rows
    assert _actor_is(client, rows[0].get("actor")), rows
