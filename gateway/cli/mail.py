"""``gateway mail``: the e-mail settings in force and the queue, as the admin UI's E-mail page
shows them, and a test message queued with the same operation."""

from __future__ import annotations

import click

from gateway.cli.context import actor, services_of


@click.group()
def mail() -> None:
    """E-mail: settings, queue and a test message."""


@mail.command("queue")
@click.pass_context
def mail_queue(ctx):
    """Show the settings in force (never the password), the queue's counts and its failed
    messages, one line each."""
    overview = services_of(ctx).email_admin().overview()
    settings, queue = overview["settings"], overview["queue"]
    if settings is None:
        click.echo("no email: section is configured, so the gateway sends no mail")
    else:
        login = f" as {settings['username']}" if settings["username"] else ""
        click.echo(
            f"smtp {settings['host']}:{settings['port']} ({settings['security']}){login}, "
            f"from {settings['sender']}, brand {settings['brand']}"
        )
    oldest = queue["oldestPendingAgeSeconds"]
    click.echo(
        f"pending {queue['pending']} (retrying {queue['retrying']}), failed {queue['failed']}"
        + (f", oldest waiting {oldest:.0f} s" if oldest is not None else "")
    )
    if queue["lastError"]:
        click.echo(f"last error: {queue['lastError']}")
    for failed in queue["failedMails"]:
        click.echo(
            f"failed {failed['kind']:<22} to {failed['recipient']:<32} "
            f"after {failed['attempts']} attempts: {failed['error']}"
        )


@mail.command("test")
@click.argument("address")
@click.pass_context
def mail_test(ctx, address):
    """Queue a test message to ADDRESS. The running gateway sends it within a few seconds;
    'gateway mail queue' shows it if sending fails."""
    services_of(ctx).email_admin().send_test(address, actor=actor())
    click.echo(f"queued a test message to {address.strip()}")
