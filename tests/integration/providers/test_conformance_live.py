"""Every catalogued provider type against the capability contract, on its real backend: local
on a SQLite file, ldap on the slapd fixture, oidc on the oidc-provider fixture.

Each type's section goes through the catalog (parse, then the type's factory), and every
capability the type declares is exercised: the health check reports the backend healthy,
passwords and lookups answer as the contract says, a trial login narrates its steps, a browser
login starts at the IdP, and ``close`` releases the provider.
tests/unit/providers/test_conformance.py holds the declarations themselves. (This module's
name differs from that one's: pytest's default import mode wants test module names unique.)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gateway.login.usernames import UsernamePolicy
from gateway.storage.db import Database
from providers.base import (
    CallbackProvider,
    HealthCheck,
    Identity,
    IdentityLookup,
    PasswordProvider,
    ProviderUnavailable,
    Rejection,
    TokenProvider,
    TrialLogin,
)
from providers.catalog import CATALOG, build_provider, parse_section
from providers.local.policy import PasswordPolicy
from providers.providertype import BuildContext, BuiltProvider
from tests.support import ldapdata
from tests.support.oidcserver import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    OidcProviderServer,
    default_client,
    default_users,
)

pytestmark = pytest.mark.integration

REDIRECT_URI = "http://127.0.0.1:9/oidc/callback"  # never followed
LOCAL_PASSWORD = "purple-anchor-42-windmill"


@pytest.fixture(scope="module")
def oidc_server(tmp_path_factory) -> Iterator[OidcProviderServer]:
    server = OidcProviderServer.start(
        tmp_path_factory.mktemp("oidc"), clients=[default_client(REDIRECT_URI)], users=default_users()
    )
    yield server
    server.stop()


def _section(kind: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The ``providers[n]`` section of ``kind`` pointed at its real backend."""
    if kind == "local":
        return {"type": "local", "hashing": {"time_cost": 1, "memory_cost_kib": 8192}}
    if kind == "ldap":
        slapd = request.getfixturevalue("slapd")
        return {
            "type": "ldap",
            "preset": "openldap",
            "servers": [slapd.url],
            "bind": {"dn": ldapdata.SERVICE_DN, "password": ldapdata.SERVICE_PASSWORD},
            "user": {"base": ldapdata.PEOPLE_DN},
            "groups": {"base": ldapdata.GROUPS_DN},
        }
    if kind == "oidc":
        server = request.getfixturevalue("oidc_server")
        return {
            "type": "oidc",
            "issuer": server.issuer,
            "client_id": DEFAULT_CLIENT_ID,
            "client_secret": DEFAULT_CLIENT_SECRET,
        }
    raise AssertionError(f"no real backend for provider type {kind!r}: add one here")


def _declaring(capability: type) -> list[str]:
    """The catalogued types that declare ``capability``."""
    return sorted(kind for kind, declared in CATALOG.items() if capability in declared.capabilities)


@pytest.fixture(params=sorted(CATALOG))
def built(request, tmp_path) -> Iterator[tuple[str, BuiltProvider]]:
    """``(type, what its factory built)`` for every catalogued type, on its backend."""
    kind = request.param
    database = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    database.upgrade()
    context = BuildContext(
        canonical=UsernamePolicy().canonical,
        engine=database.engine,
        sessions=database.sessions,
        password_policy=PasswordPolicy(),
    )
    _kind, options = parse_section(
        {"id": f"my-{kind}", **_section(kind, request)}, "gateway.yaml", "providers[0]"
    )
    options.pop("id"), options.pop("type")
    result = build_provider(kind, f"my-{kind}", options, context)
    if result.users is not None:
        result.users.create("alice", LOCAL_PASSWORD)
    yield kind, result
    result.provider.close()
    database.dispose()


def _password(kind: str) -> str:
    return ldapdata.password_for("alice") if kind == "ldap" else LOCAL_PASSWORD


def test_health_check_reports_the_backend_healthy(built):
    kind, result = built
    provider = result.provider
    assert isinstance(provider, HealthCheck)
    report = provider.check_health()
    assert report.healthy, report.detail
    assert report.detail


@pytest.mark.parametrize("built", _declaring(PasswordProvider), indirect=True)
def test_password_check_answers_identity_or_rejection(built):
    kind, result = built
    provider = result.provider
    identity = provider.check_password("alice", _password(kind))
    assert isinstance(identity, Identity)
    assert (identity.provider, identity.username) == (f"my-{kind}", "alice")
    assert provider.check_password("alice", "not-her-password-at-all") is Rejection.WRONG_CREDENTIALS
    assert provider.check_password("nobody-here", "not-her-password-at-all") is Rejection.NO_SUCH_USER


@pytest.mark.parametrize("built", _declaring(IdentityLookup), indirect=True)
def test_lookup_finds_the_same_identity(built):
    kind, result = built
    provider = result.provider
    found = provider.lookup("alice")
    assert isinstance(found, Identity) and found.subject
    assert found == provider.check_password("alice", _password(kind))
    assert provider.lookup("nobody-here") is Rejection.NO_SUCH_USER


@pytest.mark.parametrize("built", _declaring(TrialLogin), indirect=True)
def test_trial_login_narrates_and_never_tells_the_password(built):
    kind, result = built
    provider = result.provider
    notes: list[tuple[str, str]] = []
    identity = provider.trial_check(
        "alice", _password(kind), lambda step, detail: notes.append((step, detail))
    )
    assert isinstance(identity, Identity)
    assert notes and all(_password(kind) not in detail for _step, detail in notes)


@pytest.mark.parametrize("built", _declaring(CallbackProvider), indirect=True)
def test_browser_login_starts_at_the_idp(built):
    kind, result = built
    provider = result.provider
    url, transaction = provider.start(REDIRECT_URI)
    assert url.startswith(provider.issuer) and transaction


@pytest.mark.parametrize("built", _declaring(TokenProvider), indirect=True)
def test_a_token_it_did_not_issue_proves_nothing(built):
    kind, result = built
    provider = result.provider
    try:
        answer = provider.identity_from_token("not.a.token")
    except ProviderUnavailable:
        raise
    except Exception as refused:  # a type may refuse with its own error (OIDC: OidcRejected, 401)
        assert getattr(refused, "status", 401) == 401
    else:
        assert answer is Rejection.WRONG_CREDENTIALS
