"""Fixtures for integration tests: gateways under gunicorn on real databases and Redis."""

from __future__ import annotations

import pytest

from tests.support import ldapdata
from tests.support.harness import CONTRACT_CONFIG, PASSWORD, SEED_USERS, start_gateway
from tests.support.ldapserver import SlapdServer

# Short, so that the contract tests see a directory change soon after it (the cache's TTL is
# the documented delay for changes made in the directory itself).
LDAP_CACHE_SECONDS = 1


def ldap_contract_config(directory: SlapdServer) -> str:
    """The contract suite's configuration with its users in ``directory`` (local second)."""
    return (
        f"""
providers:
  - id: directory
    type: ldap
    preset: openldap
    servers: ["{directory.url}"]
    bind:
      dn: "{ldapdata.CONTRACT_SERVICE_DN}"
      password: "{ldapdata.SERVICE_PASSWORD}"
    user:
      base: "{ldapdata.CONTRACT_PEOPLE_DN}"
      quota_attribute: registryQuotaMB
    groups:
      base: "{ldapdata.CONTRACT_GROUPS_DN}"
      strategies: [member_of]
    credential_cache_seconds: {LDAP_CACHE_SECONDS}
  - id: local
    type: local
"""
        + CONTRACT_CONFIG
    )


@pytest.fixture(scope="session")
def contract_slapd(tmp_path_factory):
    """The contract suite's seed users in a real OpenLDAP."""
    dataset = ldapdata.contract_dataset(SEED_USERS, PASSWORD, extra_groups=["survey-north"])
    server = SlapdServer.start(tmp_path_factory.mktemp("contract-slapd"), dataset=dataset)
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["sqlite-memory", "postgres-redis", "ldap"])
def contract_gateway(request, tmp_path_factory):
    """The contract gateway: on the embedded default, on PostgreSQL + Redis, and with the
    same users in OpenLDAP."""
    if request.param == "ldap":
        directory = request.getfixturevalue("contract_slapd")
        gateway = start_gateway(tmp_path_factory.mktemp("ldap"), ldap_contract_config(directory), users=[])
        gateway.backend, gateway.directory = "ldap", directory
        yield gateway
        gateway.stop()
        return
    options = {}
    if request.param == "postgres-redis":
        postgres = request.getfixturevalue("postgres_server")
        redis_server = request.getfixturevalue("redis_server")
        name = f"contract_{request.module.__name__.rsplit('.', 1)[-1]}"[:60]
        options = {"database_url": postgres.create_database(name), "redis_url": redis_server.url}
    gateway = start_gateway(tmp_path_factory.mktemp(request.param), **options)
    gateway.backend = request.param
    yield gateway
    gateway.stop()
