"""Organizations from mapping rules, pushed to the Registry stand-in through the outbox.

The gateway under test relays the stand-in's logins (gunicorn); in-process services on the
same database sign alice in through the one LoginService, with the organizations listener and
a Deliverer whose writer drives the real RegistryClient, so that each test controls delivery
(the gateway's own wiring is proved over HTTP in test_registry_end_to_end.py). Explain shows the
organizations in the CLI, the admin API and the admin UI.

Contract lines: docs/registry-contract.md §2.6 (``POST``/``PUT``/``DELETE /users/{name}/orgs``,
permission levels 0 to 3, ``POST /orgs``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from typing import Any

import pytest
import requests
from sqlalchemy import select

from gateway.registry.client import RegistryClient
from gateway.registry.organizations import OrganizationReconciler
from gateway.registry.orgqueue import OrganizationsOnSignIn, queue_organizations
from gateway.registry.outboxdelivery import Deliverer
from gateway.registry.push import RegistryPush
from gateway.registry.results import OrgPermission
from gateway.registry.settings import RegistrySettings
from gateway.storage.outbox import RegistryOutboxEntry
from gateway.storage.registrystate import RegistryOrgGrant
from tests.support.adminapi import AdminClient, admin_ui_browser
from tests.support.harness import CONTRACT_CONFIG, PASSWORD, start_gateway
from tests.support.paths import REPO_ROOT
from tests.support.registrystub import RegistryStub

pytestmark = pytest.mark.integration

CONFIG = (
    CONTRACT_CONFIG
    + """
    - name: pilot-org
      match: {group: drone-pilots}
      organizations: [{slug: pilots, permissions: read-write}]
    - name: leads-org
      match: {group: drone-leads}
      organizations: [{slug: leads, permissions: admin}]
"""
)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    server = start_gateway(tmp_path_factory.mktemp("registry-orgs"), CONFIG)
    yield server
    server.stop()


@pytest.fixture
def stub(gateway):
    registry = RegistryStub.start(f"{gateway.url}/api/authenticate", issue_tokens=True)
    yield registry
    registry.stop()


class Writer:
    """The outbox writer of this test: set_organizations through the reconciler."""

    def __init__(self, client: RegistryClient, reconciler: OrganizationReconciler):
        self.client, self.reconciler = client, reconciler

    def set_metadata(self, username: str, payload: dict[str, Any]) -> None:
        self.client.set_metadata(username, payload)

    def delete_user(self, username: str, payload: dict[str, Any]) -> None:
        self.client.delete_user(username)

    def set_organizations(self, username: str, payload: dict[str, Any]) -> None:
        self.reconciler.set_organizations(username, payload)


@pytest.fixture
def world(gateway, stub):
    services = gateway.services()
    settings = RegistrySettings(url=stub.url, username="bob", password=PASSWORD, read_timeout_seconds=5)
    client = RegistryClient(settings)
    push = RegistryPush(enabled=True)
    reconciler = OrganizationReconciler(client, services.database, create_missing=False)
    deliverer = Deliverer(services.database, Writer(client, reconciler), poll_interval=0.2)
    services.login.add_sign_in_listener(OrganizationsOnSignIn(services.database, push, deliverer.wake))
    deliverer.start()
    # alice has a Registry account (her first login there), and the organizations exist.
    registry_login(stub, "alice")
    for slug in ("pilots", "leads", "handmade"):
        client.create_organization(slug, slug.title())
    yield services, client, push, reconciler, deliverer
    deliverer.stop()
    client.close()
    with services.database.session() as session:
        session.query(RegistryOrgGrant).delete()
        session.query(RegistryOutboxEntry).delete()
        session.execute(RegistryOrgGrant.metadata.tables["registry_org_targets"].delete())
    services.close()


def registry_login(stub, username: str) -> None:
    answer = requests.post(
        f"{stub.url}/users/authenticate", data={"username": username, "password": PASSWORD}, timeout=30
    )
    assert answer.status_code == 200, answer.text


def memberships(client: RegistryClient, username: str) -> dict[str, int | None]:
    return {m.slug: m.permissions for m in client.user_organizations(username) if not m.is_owner}


def wait_for(condition, seconds: float = 2.0):
    """``condition()``'s value once truthy; falsy when a check started ``seconds`` or later
    after the call still did not hold. A check is timed by when it starts: on a loaded machine
    the Registry's answer to a check started in time may come back after the bound."""
    started = time.monotonic()
    while True:
        began = time.monotonic() - started
        value = condition()
        if value or began >= seconds:
            return value
        time.sleep(0.05)


def sign_in(services, username: str = "alice") -> None:
    outcome = services.login.registry_password(username, PASSWORD, time.monotonic())
    assert outcome.__class__.__name__ == "Granted", outcome


def test_a_sign_in_puts_alice_in_the_granted_organization_within_2_s(world):
    services, client, *_ = world
    sign_in(services)
    assert wait_for(lambda: memberships(client, "alice").get("pilots") == OrgPermission.READ_WRITE)


def test_a_first_sign_in_gets_its_organizations_though_they_are_queued_before_the_account_exists(world, stub):
    """The race of a first login: the gateway queues (and starts to deliver) erin's
    organizations while answering, and the Registry creates her account only once it has the
    answer (``_sync_user`` after ``_exchange``). The write is tried again, not dropped."""
    services, client, push, *_ = world
    sign_in(services, "erin")  # the gateway's half; the Registry has no erin yet

    def tried() -> bool:
        with services.database.session() as session:
            return bool(session.scalars(select(RegistryOutboxEntry.attempts)).first())

    assert wait_for(tried), "the write was not tried before the account existed"
    registry_login(stub, "erin")  # the Registry's half: it now makes her account
    assert wait_for(lambda: memberships(client, "erin").get("pilots") == OrgPermission.READ_WRITE, 5.0)
    with services.database.session() as session:
        assert not queue_organizations(session, push, "erin", {"pilots": 1})  # delivered, kept


def test_a_hand_made_membership_survives_and_leaving_the_group_removes_only_the_granted_one(world, gateway):
    services, client, *_ = world
    client.add_to_organization("alice", "handmade", OrgPermission.READ_ONLY)
    sign_in(services)
    assert wait_for(lambda: set(memberships(client, "alice")) == {"pilots", "handmade"})

    gateway.remove_member("drone-pilots", "alice")
    try:
        sign_in(services)
        assert wait_for(lambda: set(memberships(client, "alice")) == {"handmade"})
        assert memberships(client, "alice")["handmade"] == OrgPermission.READ_ONLY
    finally:
        gateway.add_member("drone-pilots", "alice")


def test_a_hand_made_membership_in_a_granted_organization_is_never_removed(world):
    services, client, push, _, deliverer = world
    deliverer.stop()  # this test delivers by hand
    client.add_to_organization("alice", "pilots", OrgPermission.ADMIN)
    sign_in(services)
    deliverer.run_once()
    with services.database.session() as session:
        queue_organizations(session, push, "alice", {}, force=True)
    deliverer.run_once()
    assert memberships(client, "alice") == {"pilots": OrgPermission.ADMIN}


def test_a_level_change_is_a_put_and_unchanged_grants_queue_nothing(world):
    services, client, push, _, deliverer = world
    deliverer.stop()  # this test delivers by hand
    with services.database.session() as session:
        assert queue_organizations(session, push, "alice", {"leads": 0})
    deliverer.run_once()
    with services.database.session() as session:
        assert not queue_organizations(session, push, "alice", {"leads": 0})
        assert queue_organizations(session, push, "alice", {"leads": 3})
    deliverer.run_once()
    assert memberships(client, "alice") == {"leads": OrgPermission.ADMIN}


def test_a_missing_organization_fails_the_write_naming_it_or_is_created(world):
    services, client, push, reconciler, deliverer = world
    deliverer.stop()  # this test delivers by hand
    with services.database.session() as session:
        queue_organizations(session, push, "alice", {"ghosts": 1})
    assert deliverer.run_once().failed == 1
    with services.database.session() as session:
        error = session.scalars(select(RegistryOutboxEntry.last_error)).one()
    assert "'ghosts'" in error and "create_missing" in error

    reconciler._create_missing = True
    with services.database.session() as session:
        queue_organizations(session, push, "alice", {"ghosts": 2}, force=True)
    assert deliverer.run_once().delivered == 1
    assert memberships(client, "alice") == {"ghosts": OrgPermission.READ_WRITE_DELETE}
    assert "ghosts" in {org.slug for org in client.organizations()}


def test_explain_shows_the_organizations_in_the_cli_the_api_and_the_ui(gateway):
    """Next to the roles and quota: frank (no organization) for contrast, and a hypothetical
    lead in both groups (the higher level of a slug granted twice is not at stake here)."""
    admin = AdminClient.login(gateway.url)
    alice = admin.get("/mapping/explain/alice").json()
    assert alice["organizations"] == [{"slug": "pilots", "permissions": "read-write"}]
    assert "organizations" not in alice["answer"]  # pushed separately, never in the answer
    assert admin.get("/mapping/explain/frank").json()["organizations"] == []
    lead = admin.post(
        "/mapping/explain",
        json={"provider": "local", "userName": "lena", "groups": ["drone-pilots", "drone-leads"]},
    ).json()
    assert sorted((o["slug"], o["permissions"]) for o in lead["organizations"]) == [
        ("leads", "admin"),
        ("pilots", "read-write"),
    ]

    page = admin_ui_browser(gateway.url).get(
        f"{gateway.url}/admin/explain", params={"user": "alice"}, timeout=30
    )
    assert page.status_code == 200
    assert re.search(r'id="explain-organizations">pilots \(read-write\)</strong>', page.text), page.text[
        -3000:
    ]

    env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
    env.update(gateway.env, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "mapping", "explain", "alice"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"organizations: pilots \(read-write\)", done.stdout), done.stdout
