"""Generic, session-wide test infrastructure: real servers on free loopback
ports.  App-specific fixtures belong in the app team's own conftest files.

A missing server binary makes the fixture ERROR (never skip) with a message
naming the Debian package to install; ``bash scripts/test`` installs them.
"""

from __future__ import annotations

import json

import pytest

from tests.support.paths import REPO_ROOT
from tests.support.servers import PostgresServer, RedisServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: starts real servers (PostgreSQL, Redis, gunicorn, ...)")
    config.addinivalue_line("markers", "benchmark: performance measurement; slower than ordinary tests")


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


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The log audit (tests/support/logaudit.py) over every gateway log this run wrote: a finding
    fails the run."""
    from tests.support.logaudit import audit

    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or session.testscollected == 0:
        return
    report = audit(factory.getbasetemp())
    artifacts = REPO_ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "log-audit.json").write_text(json.dumps(report.as_dict(), indent=1))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    summary = (
        f"log audit: {report.files} gateway logs, {report.lines} lines "
        f"({report.auth_lines} auth attempts), {len(report.findings)} findings"
    )
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line(summary)
        for finding in report.findings[:20]:
            reporter.write_line(f"  {finding['where']}: {finding['what']}: {finding['line']}", red=True)
    if report.findings:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
