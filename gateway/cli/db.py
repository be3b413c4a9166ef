"""``gateway db``: the database schema."""

from __future__ import annotations

import click

from gateway.cli.context import services_of


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply all migrations (and create the first key and admin on an empty database)."""
    services = services_of(ctx, prepare=False)

    services.prepare(migrate=True)
    click.echo("database is up to date")
