"""``gateway users``: local users, and enabling, disabling and deleting a user of any provider."""

from __future__ import annotations

import json

import click

from gateway.cli.context import actor, confirm_quota_shrink_option, quota_argument, read_password, services_of
from providers.local.users import UserError


@click.group()
def users() -> None:
    """Local users."""


def _user_service(ctx):
    return services_of(ctx).user_operations()


def _admin_users(ctx):
    return services_of(ctx).admin_users()


# The commands below are clients of the same operations as the admin API and UI
# (gateway.admin.users, gateway.admin.useroperations): the same checks, the same
# consequences (sessions, tokens, app passwords and API keys ended), the same audit.


@users.command("create")
@click.argument("username")
@click.option("--email", help="the user's email address (the Registry may show it)")
@click.option("--display-name", help="the name shown instead of the username")
@click.option("--group", "groups", multiple=True, help="local group to join (repeatable)")
@click.option(
    "--max-storage-mb", help="per-user quota override: MB, or with a unit (50 GB, 2 TB), or 'unlimited'"
)
@click.option("--role", "roles", multiple=True, help="extra role for this user (repeatable)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option(
    "--temporary",
    is_flag=True,
    help="a temporary password: the user must choose their own at the first browser sign-in "
    "(the Registry's password path refuses them until then)",
)
@click.pass_context
def users_create(
    ctx, username, email, display_name, groups, max_storage_mb, roles, password_stdin, temporary
):
    """Create a local user."""
    from gateway.mapping import validate_overrides

    metadata: dict = {}
    if max_storage_mb is not None:
        metadata["maxStorageMB"] = quota_argument(max_storage_mb)
    try:
        validate_overrides({**metadata, **({"roles": list(roles)} if roles else {})})
    except ValueError as error:
        raise UserError(str(error)) from None
    _user_service(ctx).canonical(username)
    password = read_password(password_stdin)
    _admin_users(ctx).create(
        actor(),
        username,
        password,
        email=email,
        display_name=display_name,
        roles=list(roles) if roles else None,
        groups=groups,
        metadata=metadata or None,
        temporary=temporary,
    )
    click.echo(f"created {username}" + (" (temporary password)" if temporary else ""))


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON document instead of a table")
@click.pass_context
def users_list(ctx, as_json):
    """List local users."""
    views = services_of(ctx).local_users.list()
    if as_json:
        click.echo(json.dumps([_view_dict(v) for v in views], indent=2, default=str))
        return
    for view in views:
        state = "enabled" if view.enabled else "DISABLED"
        click.echo(f"{view.username:<24} {state:<9} {','.join(view.groups)}")


@users.command("show")
@click.argument("username")
@click.pass_context
def users_show(ctx, username):
    """Show one local user."""
    view = services_of(ctx).local_users.get(username)
    if view is None:
        raise UserError(f"no local user {username!r}")
    click.echo(json.dumps(_view_dict(view), indent=2, default=str))


def _view_dict(view) -> dict:
    return {
        "username": view.username,
        "email": view.email,
        "display_name": view.display_name,
        "enabled": view.enabled,
        "groups": list(view.groups),
        "overrides": view.overrides,
        "created_at": view.created_at,
        "updated_at": view.updated_at,
    }


@users.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option(
    "--temporary",
    is_flag=True,
    help="a temporary password: the user must choose their own at the next browser sign-in "
    "(the Registry's password path refuses them until then)",
)
@click.pass_context
def users_set_password(ctx, username, password_stdin, temporary):
    """Set a local user's password; ends their sessions and tokens, revokes their app
    passwords and API keys (as an admin reset does)."""
    service = _user_service(ctx)
    if services_of(ctx).local_users is None or services_of(ctx).local_users.get(username) is None:
        raise UserError(f"no local user {username!r}")
    password = read_password(password_stdin)
    ended, revoked = service.set_password(
        username, password, actor=actor(), event="password_reset", temporary=temporary
    )
    click.echo(
        f"password set for {username} ({ended} sessions ended, {revoked} app passwords and API keys revoked)"
    )


@users.command("set-quota")
@click.argument("username")
@click.argument("max_storage_mb")
@confirm_quota_shrink_option()
@click.pass_context
def users_set_quota(ctx, username, max_storage_mb, confirm_quota_shrink):
    """Set a local user's per-user quota override: MAX_STORAGE_MB (megabytes, or with a unit:
    50 GB, 2 TB), 'unlimited', or
    'none' to remove the override (the mapping rules decide again)."""
    from gateway.admin.errors import AdminError

    admin_users = _admin_users(ctx)
    try:
        metadata = admin_users.metadata(username)
        if max_storage_mb == "none":
            metadata.pop("maxStorageMB", None)
        else:
            metadata["maxStorageMB"] = quota_argument(max_storage_mb)
        admin_users.set_metadata(actor(), username, metadata, confirm_quota_shrink=confirm_quota_shrink)
    except AdminError as error:
        raise UserError(error.message) from None
    click.echo(f"{username}: maxStorageMB override {max_storage_mb}")


@users.command("set-roles")
@click.argument("username")
@click.argument("roles", nargs=-1)
@click.pass_context
def users_set_roles(ctx, username, roles):
    """Set a local user's per-user roles to exactly ROLES (given besides what the mapping rules
    grant); with no ROLES, remove every per-user role. A role not yet in the catalogue is
    added to it; an invalid role name is refused. Sessions stay: the next sign-in's answer
    has the new roles."""
    from gateway.admin.errors import AdminError

    try:
        _admin_users(ctx).update(actor(), username, roles=list(roles))
    except AdminError as error:
        raise UserError(error.message) from None
    click.echo(f"{username}: per-user roles {', '.join(roles) if roles else '(none)'}")


@users.command("disable")
@click.argument("username")
@click.pass_context
def users_disable(ctx, username):
    """Disable a user of any provider; ends their sessions and app passwords."""
    _enable(ctx, username, False)
    click.echo(f"disabled {username}")


@users.command("enable")
@click.argument("username")
@click.pass_context
def users_enable(ctx, username):
    """Enable a user."""
    _enable(ctx, username, True)
    click.echo(f"enabled {username}")


def _enable(ctx, username: str, enabled: bool) -> None:
    admin_users = _admin_users(ctx)
    if admin_users.people.get(username) is None:
        # Not a person the admin pages know (never logged in): the plain operation.
        _user_service(ctx).set_enabled(username, enabled, actor=actor())
        return
    admin_users.update(actor(), username, enabled=enabled)


@users.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.pass_context
def users_delete(ctx, username, yes):
    """Delete a local user, or forget a directory/IdP user; ends their sessions and app passwords."""
    if not yes:
        click.confirm(f"Delete {username}?", abort=True)
    admin_users = _admin_users(ctx)
    if admin_users.people.get(username) is None:
        _user_service(ctx).delete(username, actor=actor())
    else:
        admin_users.delete(actor(), username)
    click.echo(f"deleted {username}")


@users.command("factors")
@click.argument("username")
@click.pass_context
def users_factors(ctx, username):
    """List a user's second factors (type, name, created, last used)."""
    for factor in _user_service(ctx).factors(username):
        last = factor.last_used_at.isoformat() if factor.last_used_at else "never"
        click.echo(f"{factor.kind}\t{factor.name}\t{factor.created_at.isoformat()}\t{last}")


@users.command("reset-factors")
@click.argument("username")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@click.pass_context
def users_reset_factors(ctx, username, yes):
    """Remove every second factor and recovery code of a user who lost their device."""
    if not yes:
        click.confirm(f"Remove every second factor of {username}?", abort=True)
    try:
        removed = _user_service(ctx).reset_factors(username, actor=actor())
    except UserError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"removed {removed} second factor(s) of {username}")
