"""The log audit of a whole test run: no gateway log line holds a password, token or hash.

Every gateway the tests start under gunicorn writes its log to ``gunicorn.stderr.log`` (and
``gunicorn.stdout.log``) under the session's temporary directory. At the end of the run
:func:`audit` reads all of them and looks for

- the passwords and client secrets the tests use (:data:`KNOWN_SECRETS`),
- anything shaped like a JWT, an argon2 or ASP.NET Identity password hash, an app password or
  an API key (:data:`SECRET_SHAPES`),

and checks that every line is a JSON object. ``tests/conftest.py`` runs it after the last test
and fails the run on any finding; the findings and counts are kept in
``test-artifacts/log-audit.json``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import ldapdata
from tests.support.addc import ADMIN_PASSWORD as AD_ADMIN_PASSWORD
from tests.support.harness import ADMIN_PASSWORD, PASSWORD
from tests.support.ldapserver import ROOT_PASSWORD
from tests.support.oidcserver import DEFAULT_CLIENT_SECRET, DEFAULT_PASSWORD

KNOWN_SECRETS = {
    "harness password": PASSWORD,
    "bootstrap admin password": ADMIN_PASSWORD,
    "LDAP service password": ldapdata.SERVICE_PASSWORD,
    "LDAP root password": ROOT_PASSWORD,
    "AD admin password": AD_ADMIN_PASSWORD,
    "OIDC client secret": DEFAULT_CLIENT_SECRET,
    "OIDC user password": DEFAULT_PASSWORD,
}

SECRET_SHAPES = {
    "JWT": re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    "argon2 hash": re.compile(r"\$argon2(id|i|d)\$"),
    "ASP.NET Identity hash": re.compile(r"\bAQAAAA[A-Za-z0-9+/]{40,}"),
    "app password or API key": re.compile(r"gwa[pk]_[a-z0-9]{12}_[A-Za-z0-9_-]{43}"),
}

LOG_NAMES = ("gunicorn.stderr.log", "gunicorn.stdout.log")


@dataclass
class Report:
    files: int = 0
    lines: int = 0
    auth_lines: int = 0
    findings: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "files": self.files,
            "lines": self.lines,
            "auth_lines": self.auth_lines,
            "findings": self.findings,
        }


def audit(root: Path) -> Report:
    """Scan every gateway log under ``root``."""
    report = Report()
    for name in LOG_NAMES:
        for path in sorted(root.rglob(name)):
            report.files += 1
            _scan(path, report)
    return report


def _scan(path: Path, report: Report) -> None:
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        report.lines += 1
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except ValueError:
            report.findings.append({"where": where, "what": "not a JSON line", "line": line[:200]})
            continue
        if not isinstance(entry, dict):
            report.findings.append({"where": where, "what": "not a JSON object", "line": line[:200]})
            continue
        if entry.get("logger") == "gateway.auth":
            report.auth_lines += 1
        for what, secret in KNOWN_SECRETS.items():
            if secret in line:
                report.findings.append({"where": where, "what": what, "line": _redact(line, secret)})
        for what, shape in SECRET_SHAPES.items():
            if shape.search(line):
                report.findings.append({"where": where, "what": what, "line": shape.sub("[…]", line)[:300]})


def _redact(line: str, secret: str) -> str:
    return line.replace(secret, "[…]")[:300]
