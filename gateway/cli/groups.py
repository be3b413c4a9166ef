"""``gateway groups``: local groups (teams)."""

from __future__ import annotations

import click

from gateway.cli.context import actor, services_of


@click.group()
def groups() -> None:
    """Local groups (teams): list, create, delete, add and remove members."""


# Clients of the same operations as the admin API and UI (gateway.admin.groups).
def _admin_groups(ctx):
    return services_of(ctx).admin_groups()


@groups.command("create")
@click.argument("name")
@click.option("--description", help="what the group is for")
@click.pass_context
def groups_create(ctx, name, description):
    """Create a local group."""
    _admin_groups(ctx).create(actor(), name, description)
    click.echo(f"created group {name}")


@groups.command("list")
@click.pass_context
def groups_list(ctx):
    """List local groups and their members."""
    found = services_of(ctx).local_users.list_groups()
    if not found:
        click.echo("no groups")
    for name, members in found:
        click.echo(f"{name:<24} {','.join(members)}")


@groups.command("delete")
@click.argument("name")
@click.pass_context
def groups_delete(ctx, name):
    """Delete a local group (its members stay), unless that leaves no admin."""
    _admin_groups(ctx).delete(actor(), name)
    click.echo(f"deleted group {name}")


@groups.command("add-member")
@click.argument("group")
@click.argument("username")
@click.pass_context
def groups_add_member(ctx, group, username):
    """Put a local user in a group."""
    _admin_groups(ctx).add_member(actor(), group, username)
    click.echo(f"added {username} to {group}")


@groups.command("remove-member")
@click.argument("group")
@click.argument("username")
@click.pass_context
def groups_remove_member(ctx, group, username):
    """Take a user out of a group, unless that leaves no admin."""
    _admin_groups(ctx).remove_member(actor(), group, username)
    click.echo(f"removed {username} from {group}")
