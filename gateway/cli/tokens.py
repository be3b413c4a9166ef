"""``gateway tokens``: signed tokens for the token path."""

from __future__ import annotations

from datetime import timedelta

import click

from gateway.cli.context import services_of
from providers.local.users import UserError


@click.group()
def tokens() -> None:
    """Signed tokens for the token path."""


@tokens.command("mint")
@click.argument("username")
@click.option("--lifetime", type=int, help="session lifetime in seconds")
@click.pass_context
def tokens_mint(ctx, username, lifetime):
    """Start a session for USERNAME and print a token bound to it."""

    services = services_of(ctx)
    identity = services.user_operations().identity(username)
    if identity is None:
        raise UserError(f"no enabled user {username!r} that can be looked up")
    seconds = lifetime or services.config.tokens.session_lifetime_seconds
    session = services.sessions.create(identity, timedelta(seconds=seconds))
    click.echo(services.tokens.mint(identity.username, session.id, expires_at=session.expires_at))
