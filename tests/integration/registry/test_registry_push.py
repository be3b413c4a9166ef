"""Keeping the Registry in step (issue 15): a real gateway under gunicorn with a ``registry:``
section, and the Registry stand-in relaying its logins to that gateway (``issue_tokens=True``).
A change at the gateway reaches the Registry through the outbox: alice's Registry token is
refused (``GET /orgs``, and its refresh) within 2 s of her being disabled, by the CLI or the
admin API, and enabling her gives her roles back at once; a per-user roles change, by either,
reaches the Registry at once too.

Contract lines: docs/registry-contract.md §2.5 and §2.6 (the refresh never asks the gateway; only
the ``deactivated`` role, written through the admin API, cuts existing tokens, since roles are
read per request)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from sqlalchemy import delete

from gateway.registry.link import HEALTH_MAX_AGE_SECONDS
from gateway.registry.orgqueue import queue_organizations
from gateway.registry.push import RegistryPush
from gateway.storage.outbox import RegistryOutboxEntry
from gateway.storage.registrystate import RegistryOrgTarget
from tests.support.adminapi import CSRF, AdminClient, admin_ui_browser
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


def cli(gateway, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    environ.update(gateway.env, PYTHONUNBUFFERED="1", **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=REPO_ROOT,
        env=environ,
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


@pytest.mark.parametrize("client", ["cli", "admin-api"])
def test_a_per_user_roles_change_reaches_the_registry(linked, client):
    """``gateway users set-roles`` queues the same write as the admin API's roles change."""
    gateway, stub = linked
    registry_login(stub, "alice")
    assert roles_at_registry(stub, "alice") == ["pilot"]

    def set_roles(*roles: str) -> None:
        if client == "cli":
            done = cli(gateway, "users", "set-roles", "alice", *roles)
            assert done.returncode == 0, done.stderr
        else:
            admin = AdminClient.login(gateway.url)
            assert admin.put("/users/alice", json={"roles": list(roles)}).status_code == 200

    set_roles("surveyor")
    eventually(lambda: sorted(roles_at_registry(stub, "alice")) == ["pilot", "surveyor"], 30.0)
    set_roles()  # none: the rules' role alone again
    eventually(lambda: roles_at_registry(stub, "alice") == ["pilot"], 30.0)


def test_the_admin_api_and_readyz_report_the_link(linked):
    gateway, _stub = linked
    admin = AdminClient.login(gateway.url)
    report = admin.get("/registry").json()
    assert report["enabled"] is True and report["serviceAccount"] == "bob"
    assert report["outbox"]["failed"] == 0
    ready = requests.get(f"{gateway.url}/readyz", timeout=30)
    assert ready.status_code == 200
    assert ready.json()["registry"]["failed"] == 0


@pytest.mark.parametrize(
    ("client", "username"), [("cli", "carol"), ("admin-api", "frank"), ("admin-ui", "erin")]
)
def test_deleting_a_user_refuses_their_registry_token(linked, client, username):
    """``on_delete: deactivate`` (the default): deleting a user at the gateway, by any client,
    deactivates their Registry account: existing tokens and their refresh are refused."""
    gateway, stub = linked
    token = registry_login(stub, username)
    assert with_token(stub, "GET", "/orgs", token).status_code == 200

    if client == "cli":
        done = cli(gateway, "users", "delete", username, "--yes")
        assert done.returncode == 0, done.stderr
    elif client == "admin-api":
        assert AdminClient.login(gateway.url).delete(f"/users/{username}").status_code == 204
    else:
        browser = admin_ui_browser(gateway.url)
        page = browser.get(f"{gateway.url}/admin/users/{username}/delete", timeout=10)
        assert page.status_code == 200, page.text[:300]
        response = browser.post(
            f"{gateway.url}/admin/users/{username}/delete",
            data={"csrf_token": CSRF.search(page.text).group(1)},
            allow_redirects=False,
            timeout=30,
        )
        assert response.status_code == 303, response.text[:500]
    refused_within(stub, token, 2.0)
    assert with_token(stub, "POST", "/users/authenticate/refresh", token).status_code == 401
    assert roles_at_registry(stub, username) == ["deactivated"]


def test_the_admin_providers_page_shows_the_registry_link(linked):
    gateway, stub = linked
    page = admin_ui_browser(gateway.url).get(f"{gateway.url}/admin/providers", timeout=30)
    assert page.status_code == 200
    link = page.text[page.text.index('id="registry-link"') :]
    assert stub.url in link and "service account bob" in link
    assert re.search(r'id="registry-health"><span class="badge ok">OK</span>', link)
    assert re.search(r'id="registry-pending">0\b', link) and re.search(r'id="registry-failed">0\b', link)


def metric_samples(gateway) -> dict[str, float]:
    """The samples of /metrics, by name with labels as exposed."""
    text = requests.get(f"{gateway.url}/metrics", timeout=30).text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def test_metrics_show_the_outbox_and_the_link(linked):
    gateway, stub = linked
    registry_login(stub, "alice")
    samples = metric_samples(gateway)
    assert samples["gateway_registry_up"] == 1.0
    assert samples['gateway_registry_outbox_rows{state="pending"}'] == 0.0
    assert samples['gateway_registry_outbox_rows{state="failed"}'] == 0.0
    assert samples["gateway_registry_outbox_oldest_pending_age_seconds"] == 0.0
    assert samples['gateway_registry_outbox_delivered_total{kind="set_metadata"}'] >= 1.0


def test_a_registry_that_is_down_makes_readyz_degraded_not_failing(linked):
    """Writes wait in the outbox and /readyz stays 200 ("degraded"): a Registry outage must
    never take the gateway out of its load balancer. The link's health is re-read at most every
    HEALTH_MAX_AGE_SECONDS, so the test waits for the condition, never for a fixed time."""
    gateway, stub = linked
    admin = AdminClient.login(gateway.url)

    def registry_state() -> tuple[int, dict]:
        ready = requests.get(f"{gateway.url}/readyz", timeout=30)
        return ready.status_code, ready.json()

    stub.set_down("refused")
    try:
        assert admin.put("/users/alice", json={"enabled": False}).status_code == 200
        eventually(lambda: registry_state()[1]["registry"]["ok"] is False, HEALTH_MAX_AGE_SECONDS + 15)
        status, body = registry_state()
        assert status == 200 and body["status"] == "degraded"
        assert body["registry"]["pending"] >= 1
        report = admin.get("/registry").json()
        assert report["health"]["status"] == "degraded" and stub.url in report["health"]["reason"]
        assert report["outbox"]["pending"] >= 1 and report["outbox"]["oldestPendingAgeSeconds"] is not None
        samples = metric_samples(gateway)
        assert samples["gateway_registry_up"] == 0.0
        assert samples['gateway_registry_outbox_rows{state="pending"}'] >= 1.0
    finally:
        stub.set_down(None)
    assert admin.put("/users/alice", json={"enabled": True}).status_code == 200
    eventually(lambda: roles_at_registry(stub, "alice") == ["pilot"], 30)
    eventually(lambda: registry_state()[1]["status"] == "ready", HEALTH_MAX_AGE_SECONDS + 15)


def test_a_write_the_registry_refuses_is_shown_failed_with_its_error(linked):
    """A write the Registry refuses for good (here: an organization that does not exist, with
    ``create_missing`` off) is kept as failed with the Registry's error, in the admin API, the
    providers page, /readyz (degraded) and /metrics; it is not retried."""
    gateway, _stub = linked
    services = gateway.services()
    try:
        with services.database.session() as session:
            queue_organizations(session, RegistryPush(enabled=True), "alice", {"ghosts": 1}, force=True)
        admin = AdminClient.login(gateway.url)
        eventually(lambda: admin.get("/registry").json()["outbox"]["failed"] == 1, 15.0)
        (write,) = admin.get("/registry").json()["outbox"]["failedWrites"]
        assert write["username"] == "alice" and write["state"] == "failed" and write["attempts"] == 1
        assert "'ghosts'" in write["error"]
        page = admin_ui_browser(gateway.url).get(f"{gateway.url}/admin/providers", timeout=30).text
        table = page[page.index('id="registry-failed-table"') :]
        assert "alice" in table and "ghosts" in table
        ready = requests.get(f"{gateway.url}/readyz", timeout=30)
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert ready.json()["registry"]["failed"] == 1
        assert metric_samples(gateway)['gateway_registry_outbox_rows{state="failed"}'] == 1.0
    finally:
        with services.database.session() as session:
            session.execute(delete(RegistryOutboxEntry))
            session.execute(delete(RegistryOrgTarget))
        services.close()


def test_with_on_delete_delete_a_deleted_user_is_deleted_at_the_registry(linked, tmp_path):
    """``registry.on_delete: delete``: the CLI (same database, that setting added to the
    running gateway's config) deletes the Registry account too; its token and refresh are
    refused, as for a user the Registry never knew."""
    gateway, stub = linked
    username = "gina.o-neil+test@example.org"  # a name that must be quoted in the URL path
    token = registry_login(stub, username)
    assert with_token(stub, "GET", "/orgs", token).status_code == 200
    config = tmp_path / "gateway.yaml"
    config.write_text(Path(gateway.env["GATEWAY_CONFIG"]).read_text() + "  on_delete: delete\n")

    done = cli(gateway, "users", "delete", username, "--yes", env={"GATEWAY_CONFIG": str(config)})
    assert done.returncode == 0, done.stderr
    refused_within(stub, token, 2.0)
    assert username not in stub.users
    assert with_token(stub, "POST", "/users/authenticate/refresh", token).status_code == 401
