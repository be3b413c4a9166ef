"""Unit tests (no sockets): the end-of-run log audit finds what it must, and only that."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from tests.support.harness import PASSWORD
from tests.support.logaudit import audit

CLEAN = {
    "time": "t",
    "level": "INFO",
    "logger": "gateway.auth",
    "message": "auth attempt",
    "auth_user": "alice",
    "auth_outcome": "success",
}


@pytest.fixture
def tmp_path():
    """Outside pytest's own temporary directory, which the real end-of-run audit reads."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def write(tmp_path, *lines: str):
    folder = tmp_path / "gw" / "gunicorn"
    folder.mkdir(parents=True)
    (folder / "gunicorn.stderr.log").write_text("\n".join(lines) + "\n")


def test_a_clean_log_has_no_findings(tmp_path):
    write(tmp_path, json.dumps(CLEAN), json.dumps({**CLEAN, "logger": "gunicorn.error"}))
    report = audit(tmp_path)
    assert (report.files, report.lines, report.auth_lines, report.findings) == (1, 2, 1, [])


def test_each_kind_of_leak_is_found_and_not_repeated_in_the_report(tmp_path):
    jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
    leaks = [
        f"password {PASSWORD}",
        jwt,
        "$argon2id$v=19$m=19456,t=2,p=1$abc$def",
        "AQAAAAEAACcQAAAAE" + "A" * 60,
        "gwap_abcdefghijkl_" + "x" * 43,
    ]
    write(tmp_path, *(json.dumps({**CLEAN, "message": leak}) for leak in leaks), "plain text")
    findings = audit(tmp_path).findings
    assert [finding["what"] for finding in findings] == [
        "harness password",
        "JWT",
        "argon2 hash",
        "ASP.NET Identity hash",
        "app password or API key",
        "not a JSON line",
    ]
    assert not any(PASSWORD in finding["line"] or jwt in finding["line"] for finding in findings)
