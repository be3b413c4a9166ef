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


DEEP_GROUPS = 200


@pytest.fixture(scope="session")
def slapd(tmp_path_factory):
    """The test directory (tests.support.ldapdata.openldap_dataset), permissive about unauthenticated
    binds so that an empty password reaching it would log someone in."""
    server = SlapdServer.start(
        tmp_path_factory.mktemp("slapd"),
        dataset=ldapdata.openldap_dataset(deep_groups_user_groups=DEEP_GROUPS),
        allow_unauthenticated_bind=True,
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ad_shaped_slapd(tmp_path_factory):
    """A slapd holding data shaped like Active Directory (tests.support.ldapdata.ad_shaped_dataset)."""
    server = SlapdServer.start(tmp_path_factory.mktemp("ad-slapd"), dataset=ldapdata.ad_shaped_dataset())
    yield server
    server.stop()


@pytest.fixture(scope="session")
def samba_ad(tmp_path_factory):
    """A real Samba Active Directory domain controller with the standard test content."""
    from tests.support.addc import SambaADServer

    server = SambaADServer.start(tmp_path_factory.mktemp("samba-ad"), standard_content=True)
    yield server
    server.stop()


# --------------------------------------------------------------------------
# Browser tests: headless Chromium (Debian's chromium) through Playwright
# (tests.support.browser).  A missing chromium or playwright is an ERROR, never a skip.
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module, with ``*.example.test`` resolved to
    127.0.0.1 (tests.support.browser.launch_browser)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise RuntimeError(
            "Python package 'playwright' missing: run scripts/test, or "
            ".venv/bin/pip install -e '.[test]' (never 'playwright install': the "
            "tests use Debian's chromium)"
        ) from exc
    from tests.support.browser import launch_browser

    with sync_playwright() as playwright:
        instance = launch_browser(playwright)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (empty cookie jar) and a page in it, per test."""
    context = browser.new_context()
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory):
    """A throw-away MariaDB (tests.support.mariadbserver) on a free loopback port, never the machine's
    own; ``.create_database(name)`` returns a ``mysql+pymysql://`` URL."""
    from tests.support.mariadbserver import MariaDbServer

    server = MariaDbServer.start(tmp_path_factory.mktemp("mariadb"))
    yield server
    server.stop()
