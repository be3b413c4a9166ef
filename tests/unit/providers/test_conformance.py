"""Every catalogued provider type against the capability contract (unit: SQLite files only, no
sockets): its section parses with the defaults filled in, its factory builds a provider under
the configured id, and the provider offers exactly the capabilities the type declares.

tests/integration/providers/test_conformance.py runs the same types against real servers.
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.login.usernames import UsernamePolicy
from providers.base import CAPABILITIES, Closable, HealthCheck, HealthReport, Identity, Rejection
from providers.catalog import CATALOG, build_provider, parse_section
from providers.local.policy import PasswordPolicy
from providers.providertype import BuildContext
from providers.schema import ConfigError

# A minimal valid section of every type (no server is contacted in these tests).
MINIMAL: dict[str, dict[str, Any]] = {
    "local": {"type": "local"},
    "ldap": {
        "type": "ldap",
        "servers": ["ldap://directory.invalid"],
        "user": {"base": "dc=example"},
        "groups": {"strategies": ["member_of"], "nested": False},
    },
    "oidc": {
        "type": "oidc",
        "issuer": "https://idp.invalid",
        "client_id": "gateway",
        "client_secret": "s3cret",
    },
}
SOURCE = "gateway.yaml"


def test_every_catalogued_type_has_a_conformance_section():
    assert sorted(MINIMAL) == sorted(CATALOG)


@pytest.fixture
def context(database) -> BuildContext:
    return BuildContext(
        canonical=UsernamePolicy().canonical,
        engine=database.engine,
        sessions=database.sessions,
        password_policy=PasswordPolicy(),
    )


def _built(kind: str, context: BuildContext) -> Any:
    parsed_kind, options = parse_section({"id": f"my-{kind}", **MINIMAL[kind]}, SOURCE, "providers[0]")
    assert parsed_kind == kind and options.pop("id") == f"my-{kind}" and options.pop("type") == kind
    return build_provider(kind, f"my-{kind}", options, context)


@pytest.mark.parametrize("kind", sorted(CATALOG))
def test_section_parses_and_refuses_unknown_keys_naming_them(kind):
    _kind, options = parse_section({"id": "p", **MINIMAL[kind]}, SOURCE, "providers[2]")
    assert options["id"] == "p"
    with pytest.raises(ConfigError) as raised:
        parse_section({"id": "p", **MINIMAL[kind], "colour": "red"}, SOURCE, "providers[2]")
    # The message lists the keys the section allows, every option of the type's schema.
    assert str(raised.value).startswith("gateway.yaml: providers[2].colour: unknown key; allowed: id, type, ")
    with pytest.raises(ConfigError) as raised:
        parse_section({**MINIMAL[kind], "id": "Not An Id"}, SOURCE, "providers[2]")
    assert raised.value.key == "providers[2].id"


def test_an_unknown_type_names_the_catalogued_ones():
    with pytest.raises(ConfigError) as raised:
        parse_section({"id": "p", "type": "kerberos"}, SOURCE, "providers[0]")
    assert (
        str(raised.value) == f"gateway.yaml: providers[0].type: must be one of {', '.join(sorted(CATALOG))}"
    )


@pytest.mark.parametrize("kind", sorted(CATALOG))
def test_factory_builds_a_provider_with_exactly_the_declared_capabilities(kind, context):
    declared = CATALOG[kind].capabilities
    assert HealthCheck in declared and Closable in declared
    assert set(declared) <= set(CAPABILITIES)
    built = _built(kind, context)
    provider = built.provider
    assert provider.id == f"my-{kind}"
    offered = {capability for capability in CAPABILITIES if isinstance(provider, capability)}
    assert offered == set(declared)
    provider.close()


@pytest.mark.parametrize("kind", sorted(CATALOG))
def test_only_a_type_that_keeps_users_returns_a_user_store(kind, context):
    built = _built(kind, context)
    assert (built.users is not None) == (kind == "local")
    built.provider.close()


def test_local_health_and_password_check_behave(context):
    built = _built("local", context)
    provider, users = built.provider, built.users
    assert provider.check_health() == HealthReport(True, "local database, 0 users")
    users.create("ann", "purple-anchor-42-windmill")
    assert provider.check_health() == HealthReport(True, "local database, 1 users")
    assert provider.check_password("nobody", "purple-anchor-42-windmill") is Rejection.NO_SUCH_USER
    assert provider.check_password("ann", "wrong-password-entirely") is Rejection.WRONG_CREDENTIALS
    identity = provider.check_password("ann", "purple-anchor-42-windmill")
    assert isinstance(identity, Identity) and identity.provider == "my-local"
    assert provider.lookup("ann") == identity
    provider.close()
