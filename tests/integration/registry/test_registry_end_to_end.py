"""The directory reaches the Registry with no one clicking (issue 15), proved end to end over HTTP:
a real gateway under gunicorn with an LDAP provider on a slapd of the test's own, a ``registry:``
section whose service account is a local admin, and the periodic directory sync every second;
the Registry stand-in relays its logins to that gateway (``issue_tokens=True``).

* alice's entry deleted from slapd: within one sync period plus delivery her existing Registry
  token is refused, and so is its refresh;
* alice taken out of ``developers``: after the next sync run her Registry roles lose ``pilot``
  and she leaves ``pilots``, while a membership made by hand at the Registry stays.

Contract lines: docs/registry-contract.md §2.5 and §2.6 (a user removed from the directory keeps
every Registry token until the Registry marks them ``deactivated``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from gateway.registry.client import RegistryClient
from gateway.registry.results import OrgPermission
from gateway.registry.settings import RegistrySettings
from tests.support import ldapdata as data
from tests.support.adminapi import AdminClient
from tests.support.harness import PASSWORD, GatewayUnderTest, start_gateway
from tests.support.ldapserver import SlapdServer
from tests.support.registrygateway import (
    SYNC_PASSWORD_ENV,
    eventually,
    link,
    registry_login,
    registry_section,
    start_stub,
    with_token,
)
from tests.support.registrystub import RegistryStub
from tests.support.syncgateway import directory_provider

pytestmark = pytest.mark.integration

SYNC_SECONDS = 1  # the smallest interval registry.sync allows
DELIVERY_SECONDS = 5  # what the bound allows on top of one sync period
SERVICE_ACCOUNT = "hub-sync"  # a local user whose answer carries the Registry's admin role


def gateway_config(directory_url: str, registry_url: str) -> str:
    corp = directory_provider("corp", directory_url, "member_of")
    registry = registry_section(registry_url, SERVICE_ACCOUNT).strip()
    return f"""
providers:
  - id: local
    type: local
{corp}{registry}
  organizations: {{create_missing: true}}
  sync: {{interval_seconds: {SYNC_SECONDS}}}
mapping:
  default_roles: []
  rules:
    - name: registry-admins
      match: {{group: registry-admins}}
      roles: [admin]
    - name: developers
      match: {{group: developers}}
      roles: [pilot]
      organizations: [{{slug: pilots, permissions: read-write}}]
"""


@dataclass
class Linked:
    directory: SlapdServer
    gateway: GatewayUnderTest
    stub: RegistryStub
    registry: RegistryClient  # the Registry's admin API, as the service account


@pytest.fixture
def linked(tmp_path) -> Iterator[Linked]:
    """A fresh slapd (the tests change it), the stand-in and the gateway linked both ways."""
    directory = SlapdServer.start(tmp_path / "slapd", dataset=data.openldap_dataset())
    stub = start_stub()
    gateway = start_gateway(
        tmp_path / "gateway",
        gateway_config(directory.url, stub.url),
        users=[{"username": SERVICE_ACCOUNT, "groups": ["registry-admins"]}],
        extra={SYNC_PASSWORD_ENV: PASSWORD},
    )
    link(stub, gateway.url)
    registry = RegistryClient(
        RegistrySettings(url=stub.url, username=SERVICE_ACCOUNT, password=PASSWORD, read_timeout_seconds=5)
    )
    try:
        yield Linked(directory, gateway, stub, registry)
    finally:
        registry.close()
        gateway.stop()
        stub.stop()
        directory.stop()


def memberships(registry: RegistryClient, username: str) -> dict[str, OrgPermission | None]:
    return {m.slug: m.permissions for m in registry.user_organizations(username) if not m.is_owner}


def changed_by_the_schedule(gateway: GatewayUnderTest, kind: str, username: str) -> bool:
    """Whether a scheduled run recorded ``kind`` (disabled, remapped...) for ``username`` and no
    run was started any other way (the admin API's sync overview)."""
    runs = AdminClient.login(gateway.url).get("/registry/sync").json()["runs"]
    assert {run["trigger"] for run in runs} == {"schedule"}, runs
    return any(username in outcome["users"][kind] for run in runs for outcome in run["directories"])


def test_deleting_alice_from_the_directory_cuts_her_registry_token_within_one_sync_period(linked):
    token = registry_login(linked.stub, "alice", data.password_for("alice"))
    assert with_token(linked.stub, "GET", "/orgs", token).status_code == 200

    linked.directory.modify_ldif(f"dn: {data.ALICE_DN}\nchangetype: delete\n")
    eventually(
        lambda: with_token(linked.stub, "GET", "/orgs", token).status_code == 401,
        SYNC_SECONDS + DELIVERY_SECONDS,
    )
    assert with_token(linked.stub, "POST", "/users/authenticate/refresh", token).status_code == 401
    assert linked.stub.users["alice"]["roles"] == ["deactivated"]
    assert changed_by_the_schedule(linked.gateway, "disabled", "alice")


def test_leaving_a_group_changes_her_registry_roles_and_organizations(linked):
    registry_login(linked.stub, "alice", data.password_for("alice"))
    eventually(lambda: memberships(linked.registry, "alice").get("pilots") == OrgPermission.READ_WRITE, 2.0)
    assert linked.stub.users["alice"]["roles"] == ["pilot"]
    linked.registry.create_organization("handmade", "Handmade")
    linked.registry.add_to_organization("alice", "handmade", OrgPermission.READ_ONLY)

    linked.directory.modify_ldif(
        f"dn: {data.DEVELOPERS_DN}\nchangetype: modify\ndelete: member\nmember: {data.ALICE_DN}\n"
    )
    eventually(
        lambda: (
            linked.stub.users["alice"]["roles"] == []
            and "pilots" not in memberships(linked.registry, "alice")
        ),
        SYNC_SECONDS + DELIVERY_SECONDS,
    )
    assert memberships(linked.registry, "alice") == {"handmade": OrgPermission.READ_ONLY}
    assert changed_by_the_schedule(linked.gateway, "remapped", "alice")
