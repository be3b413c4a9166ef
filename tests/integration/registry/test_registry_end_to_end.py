"""The directory reaches the Registry with no one clicking (issue 15), proved end to end over HTTP:
a real gateway under gunicorn with an LDAP provider on a slapd of the test's own, a ``registry:``
section whose service account is a local admin, and the periodic directory sync every second;
the Registry stand-in relays its logins to that gateway (``issue_tokens=True``).

* alice's entry deleted from slapd: within one sync period plus delivery her existing Registry
  token is refused, and so is its refresh;
* alice taken out of ``developers``: after the next sync run her Registry roles lose ``pilot``
  and she leaves ``pilots``, while a membership made by hand at the Registry stays.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import requests

from gateway.registry.client import RegistryClient
from gateway.registry.results import OrgPermission
from gateway.registry.settings import RegistrySettings
from tests.support import ldapdata as data
from tests.support.adminapi import AdminClient
from tests.support.harness import PASSWORD, GatewayUnderTest, start_gateway
from tests.support.ldapserver import SlapdServer
from tests.support.registrystub import RegistryStub

pytestmark = pytest.mark.integration

SYNC_SECONDS = 1  # the smallest interval registry.sync allows
DELIVERY_SECONDS = 5  # what the bound allows on top of one sync period
SERVICE_ACCOUNT = "hub-sync"  # a local user whose answer carries the Registry's admin role
SERVICE_PASSWORD_ENV = "REGISTRY_SYNC_PASSWORD"


def gateway_config(directory_url: str, registry_url: str) -> str:
    return f"""
providers:
  - id: local
    type: local
  - id: corp
    type: ldap
    preset: openldap
    servers: ["{directory_url}"]
    bind: {{dn: "{data.SERVICE_DN}", password: "{data.SERVICE_PASSWORD}"}}
    user: {{base: "{data.PEOPLE_DN}"}}
    groups: {{base: "{data.GROUPS_DN}", strategies: [member_of]}}
    connect_timeout_seconds: 1
    operation_timeout_seconds: 2
registry:
  url: {registry_url}
  service_account: {{username: {SERVICE_ACCOUNT}, password_env: {SERVICE_PASSWORD_ENV}}}
  connect_timeout_seconds: 2
  read_timeout_seconds: 5
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
    stub = RegistryStub.start("http://127.0.0.1:9/api/authenticate", issue_tokens=True)
    gateway = start_gateway(
        tmp_path / "gateway",
        gateway_config(directory.url, stub.url),
        users=[{"username": SERVICE_ACCOUNT, "groups": ["registry-admins"]}],
        extra={SERVICE_PASSWORD_ENV: PASSWORD},
    )
    stub.external_auth_url = f"{gateway.url}/api/authenticate"
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


def registry_login(stub: RegistryStub, username: str) -> str:
    """alice signs in at the Registry with her directory password; her Registry token."""
    answer = requests.post(
        f"{stub.url}/users/authenticate",
        data={"username": username, "password": data.password_for(username)},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def with_token(stub: RegistryStub, method: str, path: str, token: str) -> requests.Response:
    return requests.request(method, stub.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def within(seconds: float, check: Callable[[], bool]) -> float:
    """Seconds until ``check()`` holds (fails the test after ``seconds``)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - started


def memberships(registry: RegistryClient, username: str) -> dict[str, OrgPermission | None]:
    return {m.slug: m.permissions for m in registry.user_organizations(username) if not m.is_owner}


def changed_by_the_schedule(gateway: GatewayUnderTest, kind: str, username: str) -> bool:
    """Whether a scheduled run recorded ``kind`` (disabled, remapped...) for ``username`` and no
    run was started any other way (the admin API's sync overview)."""
    runs = AdminClient.login(gateway.url).get("/registry/sync").json()["runs"]
    assert {run["trigger"] for run in runs} == {"schedule"}, runs
    return any(username in outcome["users"][kind] for run in runs for outcome in run["directories"])


def test_deleting_alice_from_the_directory_cuts_her_registry_token_within_one_sync_period(linked):
    token = registry_login(linked.stub, "alice")
    assert with_token(linked.stub, "GET", "/orgs", token).status_code == 200

    linked.directory.modify_ldif(f"dn: {data.ALICE_DN}\nchangetype: delete\n")
    within(
        SYNC_SECONDS + DELIVERY_SECONDS,
        lambda: with_token(linked.stub, "GET", "/orgs", token).status_code == 401,
    )
    assert with_token(linked.stub, "POST", "/users/authenticate/refresh", token).status_code == 401
    assert linked.stub.users["alice"]["roles"] == ["deactivated"]
    assert changed_by_the_schedule(linked.gateway, "disabled", "alice")


def test_leaving_a_group_changes_her_registry_roles_and_organizations(linked):
    registry_login(linked.stub, "alice")
    within(2.0, lambda: memberships(linked.registry, "alice").get("pilots") == OrgPermission.READ_WRITE)
    assert linked.stub.users["alice"]["roles"] == ["pilot"]
    linked.registry.create_organization("handmade", "Handmade")
    linked.registry.add_to_organization("alice", "handmade", OrgPermission.READ_ONLY)

    linked.directory.modify_ldif(
        f"dn: {data.DEVELOPERS_DN}\nchangetype: modify\ndelete: member\nmember: {data.ALICE_DN}\n"
    )
    within(
        SYNC_SECONDS + DELIVERY_SECONDS,
        lambda: (
            linked.stub.users["alice"]["roles"] == []
            and "pilots" not in memberships(linked.registry, "alice")
        ),
    )
    assert memberships(linked.registry, "alice") == {"handmade": OrgPermission.READ_ONLY}
    assert changed_by_the_schedule(linked.gateway, "remapped", "alice")
