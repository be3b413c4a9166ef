"""The command the docs give to check the compose stack's configuration without Docker works as
written (issue 18: it used to stop at ``tokens.issuer: environment variable GATEWAY_PUBLIC_URL is
not set``). It is read from docs/operations.md and run as the real ``gateway`` console script in a
clean environment (no ``GATEWAY_*`` inherited from the test run), from the repository root."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO_ROOT

COMMAND = re.compile(r"`(GATEWAY_CONFIG=deploy/compose/gateway\.yaml [^`]*gateway check-config)`")


def test_the_documented_compose_check_command_passes_as_written():
    text = (REPO_ROOT / "docs" / "operations.md").read_text("utf-8")
    found = COMMAND.findall(text)
    assert found, "docs/operations.md no longer shows the compose check-config command"
    for command in found:
        words = shlex.split(command)
        assignments = dict(word.split("=", 1) for word in words if "=" in word and not word.startswith("-"))
        program = [word for word in words if "=" not in word]
        assert program == ["gateway", "check-config"], command
        gateway = Path(sys.executable).with_name("gateway")
        result = subprocess.run(
            [str(gateway), "check-config"],
            cwd=REPO_ROOT,
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": str(REPO_ROOT),
                "PYTHONPATH": str(REPO_ROOT),
                **assignments,
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (command, result.stdout, result.stderr)
        assert "configuration OK" in result.stdout
