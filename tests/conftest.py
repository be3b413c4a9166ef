"""Session-wide test set-up: markers, the real-server fixtures (tests/support/fixtures.py) and the
log audit after the last test. App-specific fixtures belong in the conftest files below."""

from __future__ import annotations

import json

import pytest

from tests.support.paths import REPO_ROOT

pytest_plugins = ["tests.support.fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: starts real servers (PostgreSQL, Redis, gunicorn, ...)")
    config.addinivalue_line("markers", "benchmark: performance measurement; slower than ordinary tests")


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
