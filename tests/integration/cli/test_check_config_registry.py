"""``gateway check-config`` with a ``registry:`` section warns (exit code 0, a ``warning:``
line) when the service account could not administer the Registry: unknown, disabled, or
mapped to an answer without the Registry's ``admin`` role."""

from __future__ import annotations

import pytest

from tests.integration.cli.test_cli import CONFIG, PASSWORD, make_env, ok, run

pytestmark = pytest.mark.integration


def registry_config(account: str) -> str:
    return (
        CONFIG
        + f"""
registry:
  url: http://127.0.0.1:9
  service_account: {{username: {account}, password: not-checked-here}}
"""
    )


def check(tmp_path, account: str) -> list[str]:
    """The warning lines of check-config for ``account`` on the instance in ``tmp_path``."""
    env = make_env(tmp_path, config=registry_config(account))
    done = run(env, "check-config")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("configuration OK")
    return [line for line in done.stderr.splitlines() if line.startswith("warning:")]


def test_check_config_warns_about_the_registry_service_account(tmp_path):
    (warning,) = check(tmp_path, "admin")
    assert "does not exist yet" in warning  # nothing to check before the first start

    env = make_env(tmp_path, config=registry_config("admin"))
    ok(env, "users", "list")  # creates the database and the bootstrapped admin
    assert check(tmp_path, "admin") == []  # the admin's answer carries the admin role

    (warning,) = check(tmp_path, "nobody")
    assert "'nobody' is not a user of this gateway" in warning

    ok(env, "groups", "create", "drone-pilots")
    ok(env, "users", "create", "pilot", "--password-stdin", "--group", "drone-pilots", stdin=PASSWORD + "\n")
    (warning,) = check(tmp_path, "pilot")
    assert "would not get the Registry's 'admin' role" in warning and "['pilot']" in warning

    ok(env, "users", "disable", "pilot")
    (warning,) = check(tmp_path, "pilot")
    assert "'pilot' is disabled" in warning
