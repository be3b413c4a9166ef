"""The ``gateway`` command: serve, manage users and groups, explain mappings, keys and tokens.

One module per command group; this one assembles them under ``main`` (the console script
``gateway = gateway.cli:main`` and ``python -m gateway``)."""

from __future__ import annotations

import click

from gateway.cli.checkconfig import check_config
from gateway.cli.context import CommandGroup
from gateway.cli.db import db
from gateway.cli.groups import groups
from gateway.cli.importregistry import import_registry
from gateway.cli.keys import keys
from gateway.cli.ldap import ldap
from gateway.cli.mail import mail
from gateway.cli.mapping import mapping
from gateway.cli.registrations import registrations
from gateway.cli.registry import registry
from gateway.cli.roles import roles
from gateway.cli.serve import serve
from gateway.cli.sessions import sessions
from gateway.cli.tokens import tokens
from gateway.cli.users import users
from gateway.cli.version import version_option

__all__ = ["main"]


@click.group(cls=CommandGroup)
@version_option
@click.pass_context
def main(ctx: click.Context) -> None:
    """DroneDB Registry authentication gateway."""
    ctx.ensure_object(dict)


for command in (
    serve,
    check_config,
    db,
    users,
    groups,
    roles,
    mapping,
    import_registry,
    ldap,
    tokens,
    keys,
    sessions,
    registry,
    registrations,
    mail,
):
    main.add_command(command)
