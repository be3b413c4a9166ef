"""``/admin/api/registry/sync`` over HTTP against the gateway under gunicorn and a real slapd:
the run history, the schedule, a dry run that changes nothing, a run that disables a leaver,
409 while another run holds the lease, and who may call."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from gateway.registry.syncruns import SyncRuns
from tests.support import ldapdata as data
from tests.support.adminapi import PASSWORD, AdminClient, start_admin_gateway
from tests.support.ldapserver import SlapdServer
from tests.support.syncgateway import leave_directory, start_sync_gateway

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def directory(tmp_path_factory):
    server = SlapdServer.start(tmp_path_factory.mktemp("sync-slapd"), dataset=data.openldap_dataset())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(directory, tmp_path_factory):
    gateway = start_sync_gateway(tmp_path_factory.mktemp("admin-sync"), directory)
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def admin(gateway):
    return AdminClient.login(gateway.url)


def test_only_admins_see_and_start_the_sync(gateway):
    alice = AdminClient.login(gateway.url, "alice", PASSWORD)
    for method in ("GET", "POST"):
        anonymous = requests.request(method, f"{gateway.url}/admin/api/registry/sync", timeout=30)
        assert anonymous.status_code == 401
        assert alice.request(method, "/registry/sync", json={"dryRun": True}).status_code == 403


def test_both_operations_are_in_the_openapi_document(gateway):
    paths = requests.get(f"{gateway.url}/admin/api/openapi.json", timeout=30).json()["paths"]
    operations = paths["/admin/api/registry/sync"]
    assert {"get", "post"} <= set(operations)
    assert {"400", "409"} <= set(operations["post"]["responses"])


def test_the_overview_shows_the_schedule_and_the_directories(admin):
    overview = admin.get("/registry/sync").json()
    assert overview["directories"] == ["directory"] and overview["running"] is False
    assert overview["schedule"] == {
        "enabled": False,  # registry.sync.enabled: false
        "intervalSeconds": 3600,
        "lastRunAt": None,
        "nextDueAt": None,
    }


def test_a_dry_run_reports_a_leaver_then_a_run_disables_them(gateway, directory, admin):
    first = admin.post("/registry/sync", json={"dryRun": False})
    assert first.status_code == 200, first.text
    assert first.json()["totals"]["checked"] == 2 and first.json()["totals"]["unchanged"] == 2
    leave_directory(directory, "erin")

    dry = admin.post("/registry/sync", json={"dryRun": True})
    assert dry.status_code == 200, dry.text
    shown = dry.json()
    assert shown["dryRun"] is True and shown["state"] == "done" and shown["trigger"] == "admin"
    (outcome,) = shown["directories"]
    assert outcome["provider"] == "directory" and outcome["users"]["disabled"] == ["erin"]
    assert admin.get("/users/erin").json()["enabled"] is True  # a dry run changes nothing

    run = admin.post("/registry/sync", json={}).json()  # dryRun defaults to false
    assert run["dryRun"] is False and run["totals"]["disabled"] == 1
    assert run["directories"][0]["users"]["disabled"] == ["erin"]
    assert run["finishedAt"] >= run["startedAt"] and run["durationSeconds"] >= 0
    assert admin.get("/users/erin").json()["enabled"] is False

    overview = admin.get("/registry/sync").json()
    assert [item["id"] for item in overview["runs"][:3]] == [run["id"], shown["id"], first.json()["id"]]
    assert overview["schedule"]["lastRunAt"] == run["startedAt"]
    assert overview["runs"][0] == run


def test_a_run_while_another_holds_the_lease_is_a_409(gateway, admin):
    services = gateway.services()
    runs = SyncRuns(services.database)
    try:
        assert runs.acquire("another-replica", timedelta(minutes=5))
        assert admin.get("/registry/sync").json()["running"] is True
        busy = admin.post("/registry/sync", json={"dryRun": False})
        assert busy.status_code == 409 and "already running" in busy.json()["error"]
        assert admin.post("/registry/sync", json={"dryRun": True}).status_code == 200  # no lease needed
    finally:
        runs.release("another-replica")
        services.close()
    assert admin.get("/registry/sync").json()["running"] is False


@pytest.mark.parametrize(
    "payload, field",
    [({"dryRun": "maybe"}, "dryRun"), ({"dryRun": True, "extra": 1}, "extra")],
)
def test_a_bad_body_names_the_field(admin, payload, field):
    response = admin.post("/registry/sync", json=payload)
    assert response.status_code == 400 and response.json()["field"] == field


def test_without_a_directory_a_run_is_a_400(tmp_path):
    gateway = start_admin_gateway(tmp_path)
    try:
        admin = AdminClient.login(gateway.url)
        response = admin.post("/registry/sync", json={"dryRun": True})
        assert response.status_code == 400 and "no provider can list" in response.json()["error"]
        overview = admin.get("/registry/sync").json()
        assert overview["directories"] == [] and overview["runs"] == []
        assert overview["schedule"]["enabled"] is False
    finally:
        gateway.stop()
