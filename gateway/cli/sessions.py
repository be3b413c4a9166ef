"""``gateway sessions``: end a user's sessions (and so every token bound to one)."""

from __future__ import annotations

import click

from gateway.cli.context import actor, services_of


@click.group()
def sessions() -> None:
    """Browser and token sessions."""


@sessions.command("list")
@click.argument("username", required=False)
@click.option("--all", "include_ended", is_flag=True, help="include ended and expired sessions")
@click.pass_context
def sessions_list(ctx, username, include_ended):
    """List active sessions, newest first (of USERNAME only when given), one line each."""
    from gateway.admin.sessionsadmin import MAX_LIMIT

    views, total = (
        services_of(ctx)
        .admin_sessions()
        .list(username=username, include_ended=include_ended, limit=MAX_LIMIT)
    )
    if not views:
        click.echo("no sessions")
    for view in views:
        state = "active" if view.active else ("ended" if view.revoked_at else "expired")
        click.echo(
            f"{view.username:<24} {view.provider:<12} {state:<8} "
            f"started {view.created_at:%Y-%m-%d %H:%M} expires {view.expires_at:%Y-%m-%d %H:%M}  {view.id}"
        )
    if total > len(views):
        click.echo(f"(showing the newest {len(views)} of {total})")


@sessions.command("end")
@click.argument("username")
@click.pass_context
def sessions_end(ctx, username):
    """End every session of USERNAME, as the admin API and UI do; their app passwords and API
    keys keep working."""
    count = services_of(ctx).admin_sessions().revoke_user(actor(), username)
    click.echo(f"ended {count} sessions of {username}")
