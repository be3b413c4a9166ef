"""Each state change is one operation with one set of consequences, whichever client asks
(issue 13, finding 6: ``gateway users set-password`` left the user's sessions alive while the
admin API's reset ended them).

For every operation and every client (the ``gateway`` command in a subprocess, the admin API
over HTTP, the admin UI's form posts with their CSRF token), a fresh user first gets a Registry
token, an admin API token, an app password and an API key; after the operation the sessions
(and so both tokens) are ended, the app password and API key too unless the operation only ends
sessions, and the audit log has exactly one row for the change, naming who made it.

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
