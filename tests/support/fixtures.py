"""The real servers the tests start, as pytest fixtures: PostgreSQL, Redis, slapd (OpenLDAP and
AD-shaped data), Samba AD, MariaDB and headless Chromium, each on free loopback ports.

Loaded for every test by ``tests/conftest.py`` (``pytest_plugins``). A missing server binary makes
the fixture ERROR (never skip) with a message naming the Debian package to install;
``bash scripts/test`` installs them. The servers themselves are in the sibling modules
(servers.py, ldapserver.py, addc.py, mariadbserver.py, browser.py, oidcserver.py).
"""

from __future__ import annotations

import pytest

from tests.support import ldapdata
from tests.support.ldapserver import SlapdServer
from tests.support.servers import PostgresServer, RedisServer


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):
    """One PostgreSQL cluster for the whole session (started on first use).

    ``.url`` is the SQLAlchemy URL of database ``gateway_test``;
    ``.create_database(name)`` returns the URL of a fresh database.
    """
    server = PostgresServer.start(tmp_path_factory.mktemp("postgres"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """One redis-server for the whole session (started on first use).

    ``.url`` is ``redis://127.0.0.1:PORT/0``.  Tests that ``pause()`` it must
    ``resume()`` it in a ``finally`` -- or better start their own
    ``RedisServer`` so a failure cannot hang the rest of the session.
    """
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


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
    from tests.support.browser import PAGE_TIMEOUT_MS

    context.set_default_timeout(PAGE_TIMEOUT_MS)
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


@pytest.fixture
def smtp_server(tmp_path):
    """A plain SMTP server (aiosmtpd) on a free loopback port, collecting the messages it
    accepts: ``.port``, ``.messages``, ``.wait_for(n)`` (tests.support.smtpserver)."""
    from tests.support.smtpserver import SmtpServer

    server = SmtpServer(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()
