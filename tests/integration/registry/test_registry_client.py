"""The Registry client (gateway/registry/client.py) against the Registry stand-in
(tests/support/registry/), which relays its logins to a real gateway: the service account ``bob``
is a local user in ``drone-admins``, mapped to the Registry role ``admin``.

Contract lines: docs/registry-contract.md §2.6 (the admin API: its calls, bodies, error texts
and statuses; the service account's admin JWT obtained by an ordinary relayed login)."""

from __future__ import annotations

import time

import pytest
import requests

from gateway.registry.client import RegistryClient
from gateway.registry.errors import RegistryRefused, RegistryUnavailable, UnknownRegistryUser
from gateway.registry.results import OrgPermission
from gateway.registry.settings import RegistrySettings
from tests.support.harness import PASSWORD, start_gateway
from tests.support.ldapserver import TestPKI
from tests.support.registrystub import RegistryStub

pytestmark = pytest.mark.integration
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    server = start_gateway(tmp_path_factory.mktemp("registry-client"))
    yield server
    server.stop()


@pytest.fixture
def stub(gateway):
    registry = RegistryStub.start(f"{gateway.url}/api/authenticate", issue_tokens=True)
    yield registry
    registry.stop()


def client_for(stub, username="bob", password=PASSWORD, **options) -> RegistryClient:
    settings = RegistrySettings(
        url=stub.url,
        username=username,
        password=password,
        connect_timeout_seconds=2,
        read_timeout_seconds=5,
    )
    return RegistryClient(settings, **options)


def registry_login(stub, username: str) -> str:
    """A user's own login at the Registry (creating the account); their Registry JWT."""
    answer = requests.post(
        f"{stub.url}/users/authenticate", data={"username": username, "password": PASSWORD}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"username", "token", "expires"}
    return answer.json()["token"]


def as_user(stub, method: str, path: str, token: str) -> requests.Response:
    return requests.request(method, stub.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def password_relays(stub, username: str) -> int:
    return sum(1 for call in stub.calls if call["fields"].get("username") == username)


def test_the_service_account_obtains_an_admin_token_through_the_gateway(stub):
    client = client_for(stub)
    token = client.authenticate()
    assert token.admin is True
    assert token.expires_at == pytest.approx(time.time() + 7 * 86400, abs=60)
    assert "pilot" in stub.users["bob"]["roles"] and "admin" in stub.users["bob"]["roles"]
    assert password_relays(stub, "bob") == 1
    assert client.health().ok


def test_the_token_is_kept_then_renewed_on_a_401(stub):
    client = client_for(stub)
    client.users_detailed()
    client.users_detailed()
    assert password_relays(stub, "bob") == 1  # kept
    stub.rotate_secret()  # every Registry JWT so far is now refused
    assert {user.username for user in client.users_detailed()} >= {"bob"}
    assert password_relays(stub, "bob") == 2


def test_the_token_is_renewed_before_it_expires(stub):
    now = [time.time()]
    client = client_for(stub, clock=lambda: now[0])
    client.organizations()
    now[0] += 7 * 86400 - 200  # within renew_before_seconds (300) of exp
    client.organizations()
    assert password_relays(stub, "bob") == 2


def test_metadata_replaces_roles_and_quota_and_deactivated_cuts_existing_tokens(stub):
    token = registry_login(stub, "frank")
    assert as_user(stub, "GET", "/orgs", token).status_code == 200
    client = client_for(stub)

    client.set_metadata("frank", {"username": "frank", "roles": ["surveyor"], "maxStorageMB": 10})
    assert stub.users["frank"]["roles"] == ["surveyor"]
    stub.set_storage_used("frank", 3 * MIB)
    storage = client.user_storage("frank")
    assert (storage.total, storage.used) == (10 * MIB, 3 * MIB)
    detail = {user.username: user for user in client.users_detailed()}["frank"]
    assert detail.roles == ("surveyor",) and detail.storage_quota == 10 * MIB
    assert detail.storage_used == 3 * MIB

    client.set_metadata("frank", {"username": "frank", "roles": ["deactivated"]})
    assert as_user(stub, "GET", "/orgs", token).status_code == 401
    refresh = as_user(stub, "POST", "/users/authenticate/refresh", token)
    assert refresh.status_code == 401 and refresh.json()["error"] == "User cannot refresh token"
    assert client.user_storage("frank").total is None  # no integer maxStorageMB: unlimited

    client.update_user("frank", "frank@example.org", ["pilot"])
    assert stub.users["frank"]["roles"] == ["pilot"]
    assert as_user(stub, "POST", "/users/authenticate/refresh", token).status_code == 200


def test_organizations_and_memberships(stub):
    registry_login(stub, "alice")
    client = client_for(stub)
    created = client.create_organization("survey-north", "Survey North", "field teams")
    assert (created.slug, created.name, created.description) == (
        "survey-north",
        "Survey North",
        "field teams",
    )
    assert "survey-north" in {org.slug for org in client.organizations()}
    with pytest.raises(RegistryRefused) as duplicate:
        client.create_organization("survey-north", "Again")
    assert duplicate.value.status == 409

    client.add_to_organization("alice", "survey-north", OrgPermission.READ_ONLY)
    memberships = {m.slug: m for m in client.user_organizations("alice")}
    assert memberships["survey-north"].permissions is OrgPermission.READ_ONLY
    assert memberships["alice"].is_owner  # the default organization of a new account
    client.set_organization_permissions("alice", "survey-north", OrgPermission.ADMIN)
    assert {m.slug: m for m in client.user_organizations("alice")}["survey-north"].permissions == 3
    with pytest.raises(RegistryRefused) as again:
        client.add_to_organization("alice", "survey-north")
    assert again.value.error == "User is already a member of this organization"
    client.remove_from_organization("alice", "survey-north")
    assert "survey-north" not in {m.slug for m in client.user_organizations("alice")}

    with pytest.raises(RegistryRefused) as missing_org:
        client.add_to_organization("alice", "no-such-org")
    assert not isinstance(missing_org.value, UnknownRegistryUser)
    assert missing_org.value.error == "Organization does not exist: no-such-org"


def test_deleting_a_user_ends_their_refresh(stub):
    token = registry_login(stub, "erin")
    client = client_for(stub)
    client.delete_user("erin")
    assert "erin" not in stub.users
    assert as_user(stub, "POST", "/users/authenticate/refresh", token).status_code == 401


def test_the_service_account_comes_back_after_its_registry_account_was_deleted(stub):
    registry_login(stub, "alice")
    client = client_for(stub)
    client.delete_user("bob")  # its own account: the kept token now names no user
    client.set_metadata("alice", {"username": "alice", "roles": ["pilot"]})
    assert stub.users["alice"]["roles"] == ["pilot"] and "bob" in stub.users
    assert password_relays(stub, "bob") == 2


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.set_metadata("nobody", {"roles": ["deactivated"]}),
        lambda c: c.delete_user("nobody"),
        lambda c: c.user_storage("nobody"),
        lambda c: c.user_organizations("nobody"),
        lambda c: c.add_to_organization("nobody", "bob"),
        lambda c: c.set_organization_permissions("nobody", "bob", OrgPermission.READ_WRITE),
        lambda c: c.remove_from_organization("nobody", "bob"),
        lambda c: c.update_user("nobody", "n@example.org", []),
    ],
)
def test_a_user_the_registry_does_not_know(stub, call):
    client = client_for(stub)
    with pytest.raises(UnknownRegistryUser) as unknown:
        call(client)
    assert unknown.value.status == 400 and unknown.value.username == "nobody"


@pytest.mark.parametrize("mode", ["refused", "unavailable"])
def test_a_registry_that_is_down(stub, mode):
    client = client_for(stub)
    client.authenticate()
    stub.set_down(mode)
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable):
        client.users_detailed()
    assert time.monotonic() - started < 2 + 5
    health = client.health()
    assert health.status == "degraded" and stub.url in health.reason
    stub.set_down(None)
    assert client.health().ok
    assert client.users_detailed()


def test_a_registry_that_does_not_answer_in_time():
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts connections, never answers
    try:
        settings = RegistrySettings(
            url=f"http://127.0.0.1:{listener.getsockname()[1]}",
            username="bob",
            password=PASSWORD,
            read_timeout_seconds=0.5,
        )
        client = RegistryClient(settings)
        started = time.monotonic()
        with pytest.raises(RegistryUnavailable, match="did not answer in time"):
            client.authenticate()
        assert time.monotonic() - started < 3
        assert client.health().status == "degraded"
    finally:
        listener.close()


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")  # verify_tls: false, on purpose
def test_tls_is_verified_against_the_configured_ca(gateway, tmp_path):
    pki = TestPKI.generate(tmp_path / "pki")
    tls = (str(pki.server_cert_file), str(pki.server_key_file))
    with RegistryStub.start(f"{gateway.url}/api/authenticate", issue_tokens=True, tls=tls) as stub:
        assert stub.url.startswith("https://")

        def client(**tls_options) -> RegistryClient:
            settings = RegistrySettings(url=stub.url, username="bob", password=PASSWORD, **tls_options)
            return RegistryClient(settings)

        assert client(ca_file=str(pki.ca_file)).authenticate().admin is True
        for untrusted in (client(), client(ca_file=str(pki.wrong_ca_file))):
            with pytest.raises(RegistryUnavailable, match="SSLError"):
                untrusted.authenticate()
        assert client(verify_tls=False).authenticate().admin is True


def test_a_service_account_without_admin_is_refused_clearly(stub):
    client = client_for(stub, username="carol")
    assert client.authenticate().admin is False
    with pytest.raises(RegistryRefused) as refused:
        client.users_detailed()
    assert refused.value.status == 401 and refused.value.error == "User is not admin"
    assert "not a Registry admin" in str(refused.value)
    assert not client.health().ok


def test_a_wrong_service_password_is_refused_without_showing_it(stub):
    client = client_for(stub, password="wrong-horse-battery-99")
    with pytest.raises(RegistryRefused) as refused:
        client.authenticate()
    assert refused.value.status == 401 and "gateway denied the service account" in str(refused.value)
    health = client.health()
    assert health.status == "degraded" and "wrong-horse" not in health.reason
