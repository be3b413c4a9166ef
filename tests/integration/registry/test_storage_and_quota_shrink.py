"""Storage usage from the Registry stand-in (GET /users/detailed) in the admin API, and the
quota-shrink confirmation of the admin services (policy saves and per-user overrides).

Contract lines: docs/registry-contract.md §2.4 (the quota in MB, an integer) and §2.6
(``GET /users/detailed``: ``storageUsed`` in bytes; read storage use before shrinking a quota)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import requests

from gateway.registry.client import RegistryClient
from gateway.registry.settings import RegistrySettings
from gateway.registry.storagerefresh import StorageRefresh
from tests.support.adminapi import (
    ADMIN_PASSWORD,
    PASSWORD,
    AdminClient,
    admin_ui_browser,
    start_admin_gateway,
)
from tests.support.paths import REPO_ROOT
from tests.support.registrystub import RegistryStub

pytestmark = pytest.mark.integration
MIB = 1024 * 1024
ADMINS = {"name": "admins", "match": {"group": "drone-admins"}, "roles": ["admin"]}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    server = start_admin_gateway(tmp_path_factory.mktemp("quota-shrink"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stub(gateway):
    registry = RegistryStub.start(f"{gateway.url}/api/authenticate", issue_tokens=True)
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def world(gateway, stub):
    admin = AdminClient.login(gateway.url)
    policy = {"rules": [ADMINS, {"name": "pilots", "match": {"group": "drone-pilots"}, "maxStorageMB": 2048}]}
    assert admin.put("/mapping", json={"document": policy}).status_code == 200
    answer = requests.post(
        f"{stub.url}/users/authenticate", data={"username": "alice", "password": PASSWORD}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    stub.set_storage_used("alice", 900 * MIB)
    services = gateway.services()
    client = RegistryClient(RegistrySettings(url=stub.url, username="admin", password=ADMIN_PASSWORD))
    refresh = StorageRefresh(client, services.database, interval=300)
    assert refresh.run_once() >= 1
    yield admin, refresh
    client.close()
    services.close()


def test_the_admin_api_shows_registry_storage_used(world):
    admin, _ = world
    alice = admin.get("/users/alice").json()
    assert alice["storageUsedBytes"] == 900 * MIB and alice["storageFetchedAt"]
    assert "storageUsedBytes" not in admin.get("/users").json()[0]  # the Registry's shape
    listed = {u["userName"]: u for u in admin.get("/users/detailed").json()}
    assert listed["alice"]["storageUsedBytes"] == 900 * MIB
    assert listed["carol"]["storageUsedBytes"] is None  # never seen by the Registry


def test_one_refresh_per_interval_across_processes(world, gateway, stub):
    _, refresh = world
    assert refresh.run_once() is None  # the lease of the first run still holds
    services = gateway.services()
    client = RegistryClient(RegistrySettings(url=stub.url, username="admin", password=ADMIN_PASSWORD))
    later = datetime.now(UTC) + timedelta(seconds=400)
    other = StorageRefresh(client, services.database, interval=300, clock=lambda: later)
    try:
        assert other.run_once() is not None  # the lease has run out: another replica refreshes
    finally:
        client.close()
        services.close()


def test_a_quota_lowering_rule_is_refused_naming_the_user_unless_confirmed(world):
    admin, _ = world
    lower = {"rules": [ADMINS, {"name": "pilots", "match": {"group": "drone-pilots"}, "maxStorageMB": 500}]}
    refused = admin.put("/mapping", json={"document": lower})
    assert refused.status_code == 409, refused.text
    assert "alice uses 900.0 MB, new quota 500 MB" in refused.text
    assert admin.get("/users/alice").json()["maxStorageMB"] == 2048

    saved = admin.put("/mapping", json={"document": lower, "confirmQuotaShrink": True})
    assert saved.status_code == 200, saved.text
    assert admin.get("/users/alice").json()["maxStorageMB"] == 500

    # Unrelated edits are not blocked by a user who is already over quota.
    more = {"rules": [*lower["rules"], {"name": "x", "match": {"group": "nobody"}, "roles": ["x"]}]}
    assert admin.put("/mapping", json={"document": more}).status_code == 200


def test_a_per_user_quota_override_below_usage_needs_confirmation(world):
    admin, _ = world
    refused = admin.post("/users/alice/meta", json={"maxStorageMB": 100})
    assert refused.status_code == 409 and "alice uses 900.0 MB, new quota 100 MB" in refused.text
    saved = admin.post("/users/alice/meta?confirmQuotaShrink=true", json={"maxStorageMB": 100})
    assert saved.status_code == 200, saved.text
    assert admin.get("/users/alice").json()["maxStorageMB"] == 100
    # Raising it again needs nothing.
    assert admin.post("/users/alice/meta", json={"maxStorageMB": 5000}).status_code == 200


def _cli(gateway, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **gateway.env, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_needs_confirm_quota_shrink_too(world, gateway, tmp_path):
    refused = _cli(gateway, "users", "set-quota", "alice", "50")
    assert refused.returncode != 0 and "alice uses 900.0 MB, new quota 50 MB" in refused.stderr
    assert _cli(gateway, "users", "set-quota", "alice", "50", "--confirm-quota-shrink").returncode == 0
    assert _cli(gateway, "users", "set-quota", "alice", "none").returncode == 0

    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "rules:\n"
        "  - {name: admins, match: {group: drone-admins}, roles: [admin]}\n"
        "  - {name: pilots, match: {group: drone-pilots}, maxStorageMB: 10}\n"
    )
    refused = _cli(gateway, "mapping", "import", str(policy))
    assert refused.returncode != 0 and "alice uses 900.0 MB, new quota 10 MB" in refused.stderr
    assert _cli(gateway, "mapping", "import", str(policy), "--confirm-quota-shrink").returncode == 0


def test_the_cli_rule_commands_need_confirm_quota_shrink_too(world, gateway, tmp_path):
    rule = tmp_path / "pilots.yaml"
    rule.write_text("{name: pilots, match: {group: drone-pilots}, maxStorageMB: 5}\n")
    refused = _cli(gateway, "mapping", "rules", "set", str(rule))
    assert refused.returncode == 2 and "alice uses 900.0 MB, new quota 5 MB" in refused.stderr
    assert refused.stderr.strip().endswith("; run again with --confirm-quota-shrink")
    assert _cli(gateway, "mapping", "rules", "set", str(rule), "--confirm-quota-shrink").returncode == 0
    rule.write_text("{name: pilots, match: {group: drone-pilots}, maxStorageMB: 10}\n")  # as before
    assert _cli(gateway, "mapping", "rules", "set", str(rule)).returncode == 0


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def test_the_admin_ui_shows_usage_with_a_badge_and_asks_for_the_checkbox(world, gateway):
    browser = requests.Session()
    browser.trust_env = False
    form = browser.get(f"{gateway.url}/login", timeout=10)
    browser.post(
        f"{gateway.url}/login",
        data={"csrf_token": CSRF.search(form.text).group(1), "username": "admin", "password": ADMIN_PASSWORD},
        timeout=30,
    )

    def post(path: str, data: dict[str, str]) -> requests.Response:
        page = browser.get(f"{gateway.url}/admin/users/alice", timeout=10)
        token = CSRF.search(page.text).group(1)
        return browser.post(
            f"{gateway.url}{path}", data={**data, "csrf_token": token}, allow_redirects=False, timeout=30
        )

    assert post("/admin/users/alice/values", {"maxStorageMB": "5000", "metadata": ""}).status_code == 303
    refused = post("/admin/users/alice/values", {"maxStorageMB": "850", "metadata": ""})
    assert refused.status_code == 409 and "alice uses 900.0 MB, new quota 850 MB" in refused.text
    saved = post(
        "/admin/users/alice/values", {"maxStorageMB": "850", "metadata": "", "confirmQuotaShrink": "1"}
    )
    assert saved.status_code == 303, saved.text[:500]
    page = browser.get(f"{gateway.url}/admin/users/alice", timeout=10).text
    assert "900.0 MB of 850 MB" in page and "over quota" in page
    listing = browser.get(f"{gateway.url}/admin/users", timeout=10).text
    assert "900.0 MB of 850 MB" in listing and "over quota" in listing

    assert post("/admin/users/alice/values", {"maxStorageMB": "950", "metadata": ""}).status_code == 303
    assert "near quota" in browser.get(f"{gateway.url}/admin/users/alice", timeout=10).text


def test_the_admin_ui_rule_and_policy_forms_ask_for_the_checkbox(world, gateway):
    """A rule edited in the simple form, and a whole policy saved (imported) as YAML, that
    lower alice's quota below the 900 MB she uses are refused with a form error naming her,
    and saved with the checkbox ticked."""
    admin, _ = world
    # No override: the rules decide (the policy left by the tests above gives 10 MB).
    assert admin.post("/users/alice/meta?confirmQuotaShrink=true", json={}).status_code == 200
    browser = admin_ui_browser(gateway.url)

    def post(path: str, data: dict[str, str]) -> requests.Response:
        page = browser.get(f"{gateway.url}/admin/rules", timeout=10)
        version = re.search(r'name="expected_version" value="(\d+)"', page.text).group(1)
        form = {**data, "csrf_token": CSRF.search(page.text).group(1), "expected_version": version}
        return browser.post(f"{gateway.url}{path}", data=form, allow_redirects=False, timeout=30)

    def quota() -> int | None:
        return admin.get("/users/alice").json()["maxStorageMB"]

    pilots = {"name": "pilots", "kind": "grant", "who": "group", "values": "drone-pilots", "roles": ""}
    assert post("/admin/rules/pilots/form", {**pilots, "maxStorageMB": "4000"}).status_code == 303
    assert quota() == 4000
    refused = post("/admin/rules/pilots/form", {**pilots, "maxStorageMB": "700", "action": "save"})
    assert refused.status_code == 409 and "alice uses 900.0 MB, new quota 700 MB" in refused.text
    assert quota() == 4000
    saved = post(
        "/admin/rules/pilots/form",
        {**pilots, "maxStorageMB": "700", "action": "save", "confirmQuotaShrink": "1"},
    )
    assert saved.status_code == 303, saved.text[:500]
    assert quota() == 700

    document = (
        "rules:\n"
        "  - {name: admins, match: {group: drone-admins}, roles: [admin]}\n"
        "  - {name: pilots, match: {group: drone-pilots}, maxStorageMB: 600}\n"
    )
    refused = post("/admin/rules/document", {"document": document, "action": "save"})
    assert refused.status_code == 409 and "alice uses 900.0 MB, new quota 600 MB" in refused.text
    assert quota() == 700
    saved = post("/admin/rules/document", {"document": document, "action": "save", "confirmQuotaShrink": "1"})
    assert saved.status_code == 303, saved.text[:500]
    assert quota() == 600
