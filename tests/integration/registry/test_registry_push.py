"""Keeping the Registry in step (issue 15): a real gateway under gunicorn with a ``registry:``
section, and the Registry stand-in relaying its logins to that gateway (``issue_tokens=True``).
A change at the gateway reaches the Registry through the outbox: alice's Registry token is
refused (``GET /orgs``, and its refresh) within 2 s of her being disabled, by the CLI or the
admin API, and enabling her gives her roles back at once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

from tests.support.adminapi import AdminClient
from tests.support.paths import REPO_ROOT
from tests.support.registrygateway import (
    eventually,
    refused_within,
    registry_login,
    roles_at_registry,
    start_linked_gateway,
    with_token,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    """(gateway, stub): the stub relays to the gateway, the gateway writes to the stub."""
    gateway, stub = start_linked_gateway(tmp_path_factory.mktemp("registry-push"))
    yield gateway, stub
    gateway.stop()
    stub.stop()


def cli(gateway, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(gateway.env, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("client", ["cli", "admin-api"])
def test_disable_refuses_the_registry_token_and_enable_restores_it(linked, client):
    gateway, stub = linked
    token = registry_login(stub, "alice")
    assert with_token(stub, "GET", "/orgs", token).status_code == 200
    assert roles_at_registry(stub, "alice") == ["pilot"]

    if client == "cli":
        done = cli(gateway, "users", "disable", "alice")
        assert done.returncode == 0, done.stderr
    else:
        admin = AdminClient.login(gateway.url)
        assert admin.put("/users/alice", json={"enabled": False}).status_code == 200
    refused_within(stub, token, 2.0)  # counted from the moment the command or call returned
    assert with_token(stub, "POST", "/users/authenticate/refresh", token).status_code == 401
    assert roles_at_registry(stub, "alice") == ["deactivated"]

    if client == "cli":
        done = cli(gateway, "users", "enable", "alice")
        assert done.returncode == 0, done.stderr
    else:
        assert admin.put("/users/alice", json={"enabled": True}).status_code == 200
    # "At once" (no login, no sync): enabling has no time target of its own, unlike a disable.
    eventually(lambda: roles_at_registry(stub, "alice") == ["pilot"], 30.0)
    assert with_token(stub, "GET", "/orgs", token).status_code == 200


def test_the_admin_api_and_readyz_report_the_link(linked):
    gateway, _stub = linked
    admin = AdminClient.login(gateway.url)
    report = admin.get("/registry").json()
    assert report["enabled"] is True and report["serviceAccount"] == "bob"
    assert report["outbox"]["failed"] == 0
    ready = requests.get(f"{gateway.url}/readyz", timeout=30)
    assert ready.status_code == 200
    assert ready.json()["registry"]["failed"] == 0
