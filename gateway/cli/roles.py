"""``gateway roles``: the Registry roles the gateway knows (clients of gateway.admin.roles, as
the admin API and UI are)."""

from __future__ import annotations

import click

from gateway.cli.context import actor, services_of


@click.group()
def roles() -> None:
    """Registry roles: list, create and delete."""


@roles.command("list")
@click.pass_context
def roles_list(ctx):
    """List every known role, with the rules that grant it; "no roles" when there are none."""
    views = services_of(ctx).admin_roles().list()
    if not views:
        click.echo("no roles")
    for role in views:
        notes = ["admin role"] if role.protected else []
        if role.granted_by:
            notes.append(f"granted by {', '.join(role.granted_by)}")
        described = f"  {role.description}" if role.description else ""
        click.echo(f"{role.name:<24} {'; '.join(notes) or '-'}{described}")


@roles.command("create")
@click.argument("name")
@click.option("--description", help="what holders of the role may do")
@click.pass_context
def roles_create(ctx, name, description):
    """Create the role NAME."""
    services_of(ctx).admin_roles().create(actor(), name, description)
    click.echo(f"created role {name}")


@roles.command("delete")
@click.argument("name")
@click.option("--force", is_flag=True, help="delete even while mapping rules still grant it")
@click.pass_context
def roles_delete(ctx, name, force):
    """Delete the role NAME (never the admin role; not while rules grant it, unless --force)."""
    for warning in services_of(ctx).admin_roles().delete(actor(), name, force=force):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"deleted role {name}")
