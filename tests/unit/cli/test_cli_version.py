"""``gateway --version`` names the installed distribution's version (unit test: in-process)."""

from __future__ import annotations

from importlib.metadata import version

from click.testing import CliRunner

from gateway.cli import main


def test_version_prints_the_installed_distribution_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"dronedb-auth-gateway {version('dronedb-auth-gateway')}\n"


def test_every_command_group_is_registered():
    assert set(main.commands) == {
        "serve",
        "check-config",
        "db",
        "users",
        "groups",
        "roles",
        "mapping",
        "import-registry",
        "ldap",
        "tokens",
        "keys",
        "sessions",
        "registry",
        "registrations",
        "mail",
    }
