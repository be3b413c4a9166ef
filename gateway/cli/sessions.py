"""``gateway sessions``: end a user's sessions (and so every token bound to one)."""

from __future__ import annotations

import click

from gateway.cli.context import actor, services_of


@click.group()
def sessions() -> None:
    """Browser and token sessions."""


@sessions.command("end")
@click.argument("username")
@click.pass_context
def sessions_end(ctx, username):
    """End every session of USERNAME, as the admin API and UI do; their app passwords and API
    keys keep working."""
    count = services_of(ctx).admin_sessions().revoke_user(actor(), username)
    click.echo(f"ended {count} sessions of {username}")
