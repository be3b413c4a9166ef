"""``gateway registrations``: self-registered accounts not yet admitted, approved or rejected
with the same operations as the admin API and UI (the same checks, mails and audit)."""

from __future__ import annotations

import click

from gateway.cli.context import actor, services_of

# What each waiting state means, in the list's words.
STATES = {"unverified": "address not confirmed yet", "pending": "waiting for an admin"}


@click.group()
def registrations() -> None:
    """Self-registered accounts waiting to be admitted."""


@registrations.command("list")
@click.pass_context
def registrations_list(ctx):
    """List the accounts waiting, oldest first, one line each: username, address, state and
    when they registered."""
    waiting = services_of(ctx).registration().pending()
    if not waiting:
        click.echo("no registrations waiting")
    for user in waiting:
        state = STATES.get(user.registration_state or "", user.registration_state or "?")
        registered = f"{user.created_at:%Y-%m-%d %H:%M}"
        click.echo(f"{user.username:<24} {user.email or '-':<32} {state:<26} registered {registered}")


@registrations.command("approve")
@click.argument("username")
@click.pass_context
def registrations_approve(ctx, username):
    """Admit USERNAME, a registration waiting for an admin; they are told by e-mail."""
    services_of(ctx).registration().approve(actor(), username)
    click.echo(f"approved {username}")


@registrations.command("reject")
@click.argument("username")
@click.pass_context
def registrations_reject(ctx, username):
    """Reject USERNAME, a registration not yet admitted: its account is deleted."""
    services_of(ctx).registration().reject(actor(), username)
    click.echo(f"rejected {username}: the account is deleted")
