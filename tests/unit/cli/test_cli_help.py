"""Every command, group and option of ``gateway`` explains itself in ``--help``.

Unit tests: walks the click tree, no sockets.
"""

from __future__ import annotations

import click
from click.testing import CliRunner

from gateway.cli import main


def walk(command: click.Command, path: tuple[str, ...] = ("gateway",)):
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from walk(sub, (*path, name))


def test_every_command_and_option_has_help():
    missing = []
    for path, command in walk(main):
        if not (command.help or "").strip():
            missing.append(" ".join(path))
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"{' '.join(path)} {param.opts[0]}")
    assert missing == []


def test_group_help_lists_each_subcommand_with_its_summary():
    for path, command in walk(main):
        if not isinstance(command, click.Group):
            continue
        result = CliRunner().invoke(main, [*path[1:], "--help"])
        assert result.exit_code == 0, result.output
        for name, sub in command.commands.items():
            summary = sub.get_short_help_str(limit=45).split()[0]
            assert any(line.split()[:2] == [name, summary] for line in result.output.splitlines()), (
                path,
                name,
            )


def test_serve_workers_help_states_the_real_default():
    result = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200)
    assert "GATEWAY_WORKERS, else auto: one per usable CPU core, at most 16" in " ".join(
        result.output.split()
    )
