"""Each state change is one operation with one set of consequences, whichever client asks
(issue 13, finding 6: ``gateway users set-password`` left the user's sessions alive while the
admin API's reset ended them).

For every operation and every client (the ``gateway`` command in a subprocess, the admin API
over HTTP), a fresh user first gets a Registry token, an admin API token, an app password and
an API key; after the operation none of them works, and the audit log has exactly one row for
the change, naming who made it.

Integration tests: the gateway under gunicorn, the CLI as an operator runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from tests.support.adminapi import (
    PASSWORD,
    AdminClient,
    admin_api_works,
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


CLIENTS = {
    "set-password": {
        "cli": lambda gw, admin, name: _cli(
            gw, "users", "set-password", name, "--password-stdin", stdin=NEW_PASSWORD + "\n"
        ),
        "api": lambda gw, admin, name: admin.put(
            f"/users/{name}/changepwd", json={"newPassword": NEW_PASSWORD}
        ),
    },
    "disable": {
        "cli": lambda gw, admin, name: _cli(gw, "users", "disable", name),
        "api": lambda gw, admin, name: admin.put(f"/users/{name}", json={"enabled": False}),
    },
    "delete": {
        "cli": lambda gw, admin, name: _cli(gw, "users", "delete", name, "--yes"),
        "api": lambda gw, admin, name: admin.delete(f"/users/{name}"),
    },
}
AUDITED_AS = {"set-password": "password_reset", "disable": "user_disabled", "delete": "user_deleted"}


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


@pytest.mark.parametrize("client", ["cli", "api"])
@pytest.mark.parametrize("operation", list(CLIENTS))
def test_each_operation_has_the_same_consequences_from_every_client(gateway, admin, operation, client):
    held = _user_with_everything(gateway, admin)
    name = held["name"]
    CLIENTS[operation][client](gateway, admin, name)

    assert registry_answer(gateway, token=held["registry_token"]).status_code == 401
    assert not admin_api_works(gateway, held["admin_token"])
    assert registry_answer(gateway, username=name, password=held["app_password"]).status_code == 401
    assert AdminClient(gateway.url, held["api_key"]).get("/me").status_code == 401
    if operation == "set-password":
        assert registry_answer(gateway, username=name, password=PASSWORD).status_code == 401
        assert registry_answer(gateway, username=name, password=NEW_PASSWORD).status_code == 200

    rows = [(event, detail) for event, detail in _audit_rows(gateway, name) if event == AUDITED_AS[operation]]
    assert len(rows) == 1, rows
    actor = rows[0][1].get("actor")
    assert actor == "admin" if client == "api" else str(actor).startswith("cli:")
