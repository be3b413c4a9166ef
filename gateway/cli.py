"""The ``gateway`` command: serve, manage users and groups, explain mappings, keys and tokens."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import timedelta

import click
from sqlalchemy.exc import InterfaceError, OperationalError

from gateway.admin.errors import AdminError
from gateway.config.errors import ConfigError
from gateway.tokens.cipher import KeyDecryptionError
from providers.base import ProviderUnavailable
from providers.local.policy import PasswordRejected
from providers.local.users import UserError


def _services(ctx: click.Context, *, prepare: bool = True):
    """Build the services once per command, preparing the database unless told not to."""
    from gateway.bootstrap import prepare as prepare_database
    from gateway.config.file import load_config
    from gateway.config.settings import load_settings
    from gateway.services import build_services

    if "services" not in ctx.obj:
        settings = load_settings()
        services = build_services(settings, load_config(settings.config_path))
        ctx.call_on_close(services.close)
        if prepare:
            prepare_database(services)
        ctx.obj["services"] = services
    return ctx.obj["services"]


def _read_password(from_stdin: bool, confirm: bool = True) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=confirm)


class _Group(click.Group):
    """Turns expected errors into one-line messages and exit code 2, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConfigError as error:
            click.echo(f"configuration error: {error}", err=True)
            sys.exit(2)
        except (UserError, PasswordRejected, KeyDecryptionError, ProviderUnavailable) as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)
        except AdminError as error:
            click.echo(f"error: {error.message}", err=True)
            sys.exit(2)
        except (OperationalError, InterfaceError) as error:
            reason = str(getattr(error, "orig", None) or error).strip().splitlines() or ["?"]
            click.echo(f"error: database unavailable: {reason[0]}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.pass_context
def main(ctx: click.Context) -> None:
    """DroneDB Registry authentication gateway."""
    ctx.ensure_object(dict)


@main.command()
@click.option("--bind", help="host:port to listen on (default GATEWAY_BIND or 127.0.0.1:8080)")
@click.option("--workers", type=int, help="worker processes (default GATEWAY_WORKERS: one per CPU core)")
@click.pass_context
def serve(ctx: click.Context, bind: str | None, workers: int | None) -> None:
    """Prepare the database and serve under gunicorn."""
    import dataclasses

    from gateway.http.serving import GatewayServer, prepare_metrics_dir

    prepare_metrics_dir()  # before the services import prometheus_client
    services = _services(ctx)
    settings = services.settings
    if bind or workers:
        settings = dataclasses.replace(
            settings, bind=bind or settings.bind, workers=workers or settings.workers
        )
    services.close()
    GatewayServer(settings).run()


@main.command("check-config")
def check_config() -> None:
    """Validate the environment and the configuration file without starting."""
    from gateway.config.file import load_config
    from gateway.config.settings import load_settings
    from gateway.mapping import evaluate
    from providers.base import Identity

    settings = load_settings()
    config = load_config(settings.config_path)
    admin = Identity(
        provider="local",
        subject="check-config",
        username=config.admin.username,
        overrides={"roles": list(config.admin.roles)},
    )
    verdict = evaluate(config.mapping, admin, admin.overrides)
    if verdict.denied:
        click.echo(
            f"warning: the local admin {admin.username!r} (no groups) would be denied by "
            f"rule {verdict.deny_reason!r}; add it to an allowed group",
            err=True,
        )
    if config.mapping_source == "file":
        rules = f"{len(config.mapping.rules)} mapping rules (from this file)"
    else:
        rules = "mapping rules in the database" + (
            f" (this file's {len(config.mapping.rules)} seed an empty database)"
            if config.mapping_document is not None
            else ""
        )
    click.echo(
        f"configuration OK ({config.source}): providers "
        f"{', '.join(p.id + ' (' + p.type + ')' for p in config.providers)}; {rules}"
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply all migrations (and create the first key and admin on an empty database)."""
    services = _services(ctx, prepare=False)
    from gateway.bootstrap import prepare

    prepare(services, migrate=True)
    click.echo("database is up to date")


# ---- users -------------------------------------------------------------------------------


@main.group()
def users() -> None:
    """Local users."""


def _user_service(ctx):
    from gateway.admin.useroperations import UserService

    return UserService(_services(ctx))


def _admin_users(ctx):
    from gateway.admin.users import AdminUsers

    return AdminUsers(_services(ctx))


def _admin_groups(ctx):
    from gateway.admin.groups import AdminGroups

    return AdminGroups(_services(ctx))


def _actor() -> str:
    """Who is acting, for the audit log: the operating-system user running the command (the
    colon keeps it apart from every gateway username)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:?"


# The commands below are clients of the same operations as the admin API and UI
# (gateway.admin.users, gateway.admin.groups, gateway.admin.useroperations): the same checks, the same
# consequences (sessions, tokens, app passwords and API keys ended), the same audit.


@users.command("create")
@click.argument("username")
@click.option("--email")
@click.option("--display-name")
@click.option("--group", "groups", multiple=True, help="local group to join (repeatable)")
@click.option("--max-storage-mb", help="per-user quota override: an integer or 'unlimited'")
@click.option("--role", "roles", multiple=True, help="extra role for this user (repeatable)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.pass_context
def users_create(ctx, username, email, display_name, groups, max_storage_mb, roles, password_stdin):
    """Create a local user."""
    from gateway.mapping import validate_overrides

    metadata: dict = {}
    if max_storage_mb is not None:
        metadata["maxStorageMB"] = max_storage_mb if max_storage_mb == "unlimited" else _int(max_storage_mb)
    try:
        validate_overrides({**metadata, **({"roles": list(roles)} if roles else {})})
    except ValueError as error:
        raise UserError(str(error)) from None
    _user_service(ctx).canonical(username)
    password = _read_password(password_stdin)
    _admin_users(ctx).create(
        _actor(),
        username,
        password,
        email=email,
        display_name=display_name,
        roles=list(roles) if roles else None,
        groups=groups,
        metadata=metadata or None,
    )
    click.echo(f"created {username}")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UserError(f"{text!r} is not a whole number") from None


@users.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def users_list(ctx, as_json):
    """List local users."""
    views = _services(ctx).local_users.list()
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
    view = _services(ctx).local_users.get(username)
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
@click.pass_context
def users_set_password(ctx, username, password_stdin):
    """Set a local user's password; ends their sessions and tokens, revokes their app
    passwords and API keys (as an admin reset does)."""
    service = _user_service(ctx)
    if _services(ctx).local_users is None or _services(ctx).local_users.get(username) is None:
        raise UserError(f"no local user {username!r}")
    password = _read_password(password_stdin)
    ended, revoked = service.set_password(username, password, actor=_actor(), event="password_reset")
    click.echo(
        f"password set for {username} ({ended} sessions ended, {revoked} app passwords and API keys revoked)"
    )


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
        _user_service(ctx).set_enabled(username, enabled, actor=_actor())
        return
    admin_users.update(_actor(), username, enabled=enabled)


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
        _user_service(ctx).delete(username, actor=_actor())
    else:
        admin_users.delete(_actor(), username)
    click.echo(f"deleted {username}")


# ---- groups ------------------------------------------------------------------------------


@main.group()
def groups() -> None:
    """Local groups (teams)."""


@groups.command("create")
@click.argument("name")
@click.option("--description")
@click.pass_context
def groups_create(ctx, name, description):
    """Create a local group."""
    _admin_groups(ctx).create(_actor(), name, description)
    click.echo(f"created group {name}")


@groups.command("list")
@click.pass_context
def groups_list(ctx):
    """List local groups and their members."""
    for name, members in _services(ctx).local_users.list_groups():
        click.echo(f"{name:<24} {','.join(members)}")


@groups.command("delete")
@click.argument("name")
@click.pass_context
def groups_delete(ctx, name):
    """Delete a local group (its members stay), unless that leaves no admin."""
    _admin_groups(ctx).delete(_actor(), name)
    click.echo(f"deleted group {name}")


@groups.command("add-member")
@click.argument("group")
@click.argument("username")
@click.pass_context
def groups_add_member(ctx, group, username):
    """Put a local user in a group."""
    _admin_groups(ctx).add_member(_actor(), group, username)
    click.echo(f"added {username} to {group}")


@groups.command("remove-member")
@click.argument("group")
@click.argument("username")
@click.pass_context
def groups_remove_member(ctx, group, username):
    """Take a user out of a group, unless that leaves no admin."""
    _admin_groups(ctx).remove_member(_actor(), group, username)
    click.echo(f"removed {username} from {group}")


# ---- mapping -----------------------------------------------------------------------------


@main.group()
def mapping() -> None:
    """Group → role and quota mapping."""


@mapping.command("explain")
@click.argument("username")
@click.option("--provider", help="explain a hypothetical identity from this provider")
@click.option("--group", "groups", multiple=True, help="hypothetical group (repeatable)")
@click.pass_context
def mapping_explain(ctx, username, provider, groups):
    """Show which rules match USERNAME and the exact answer the Registry would get."""
    from gateway.admin.useroperations import UserService
    from gateway.login.answer import build_answer
    from gateway.mapping import format_explanation
    from providers.base import Identity

    services = _services(ctx)
    if provider or groups:
        identity = Identity(
            provider=provider or "local", subject="hypothetical", username=username, groups=tuple(groups)
        )
    else:
        identity = UserService(services).identity(username)
        if identity is None:
            raise UserError(
                f"no user {username!r} that can be looked up; "
                "use --provider/--group for a hypothetical identity"
            )
    evaluation = services.mapping.evaluate(identity)
    answer = None if evaluation.denied else build_answer(identity.username, evaluation)
    click.echo(f"identity: provider={identity.provider} groups={list(identity.groups)}")
    click.echo(format_explanation(evaluation, answer))


@mapping.command("export")
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.pass_context
def mapping_export(ctx, file):
    """Write the mapping policy in force (config file or database) as YAML to FILE or stdout.

    `gateway mapping import` reads the file back unchanged."""
    from gateway.admin.mapping import MappingAdmin
    from gateway.admin.mappingdoc import policy_yaml

    state = MappingAdmin(_services(ctx)).current()
    where = (
        "from the config file (mapping_source: file)"
        if state["source"] == "file"
        else f"version {state['version']}, from the database"
    )
    text = policy_yaml(
        state["document"],
        f"DroneDB gateway mapping policy ({where}).\nLoad it with: gateway mapping import FILE",
    )
    if file is None:
        click.echo(text, nl=False)
        return
    try:
        with open(file, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as error:
        raise UserError(f"{file}: {error.strerror or error}") from None
    rules = len(state["document"].get("rules") or [])
    click.echo(f"wrote {file} ({where}; {rules} rules)")


@mapping.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="show what would change for each user; save nothing")
@click.pass_context
def mapping_import(ctx, file, dry_run):
    """Replace the mapping policy in the database with FILE (YAML, as `mapping export` writes).

    Prints what changes for each user first. Refused while the config file holds the policy
    (mapping_source: file), and for a policy that leaves no enabled admin."""
    from gateway.admin.errors import AdminError
    from gateway.admin.mapping import READ_ONLY_MESSAGE, MappingAdmin
    from gateway.admin.mappingdoc import read_policy_yaml

    try:
        with open(file, encoding="utf-8") as source:
            document = read_policy_yaml(source.read())
    except OSError as error:
        raise UserError(f"{file}: {error.strerror or error}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise UserError(f"{file}: {error}") from None
    services = _services(ctx)
    if not services.policies.editable:
        raise UserError(READ_ONLY_MESSAGE)
    admin = MappingAdmin(services)
    current = admin.current()
    preview = admin.dry_run(document)
    if not preview["valid"]:
        raise UserError(f"{file}: {preview['error']}")
    _print_changes(preview)
    if preview["wouldLockOutAdmins"]:
        raise UserError(
            f"refused: no enabled user would hold the {services.config.admin.role!r} role under {file}"
        )
    if dry_run:
        click.echo("dry run: nothing saved")
        return
    if document == current["document"]:
        click.echo(f"no change: version {current['version']} already is this policy")
        return
    try:
        saved = admin.save("cli", document, current["version"], change="import")
    except AdminError as error:
        raise UserError(error.message) from None
    click.echo(
        f"imported {file} as version {saved['version']} ({len(saved['document'].get('rules') or [])} rules)"
    )


def _print_changes(preview: dict) -> None:
    def quota(value):
        return "unlimited" if value is None else str(value)

    for change in preview["changes"]:
        before, after = change["before"], change["after"]
        parts = []
        if before["allowed"] != after["allowed"]:
            parts.append("allowed -> DENIED" if before["allowed"] else "DENIED -> allowed")
        if before["roles"] != after["roles"]:
            parts.append(f"roles {before['roles']} -> {after['roles']}")
        if before["maxStorageMB"] != after["maxStorageMB"]:
            parts.append(f"maxStorageMB {quota(before['maxStorageMB'])} -> {quota(after['maxStorageMB'])}")
        click.echo(f"{change['userName']}: {'; '.join(parts)}")
    click.echo(
        f"{len(preview['changes'])} changed, {preview['unchanged']} unchanged; "
        f"admins after: {', '.join(preview['adminsAfter']) or '(none)'}"
    )
    if preview["newRoles"]:
        click.echo(f"new roles: {', '.join(preview['newRoles'])}")


# ---- import from a Registry --------------------------------------------------------------


@main.command("import-registry")
@click.argument("source")
@click.option("--dry-run", is_flag=True, help="show what would change; write nothing")
@click.option("--json", "as_json", is_flag=True, help="print the outcome as JSON")
@click.pass_context
def import_registry(ctx, source, dry_run, as_json):
    """Import a DroneDB Registry's own users as local users, keeping their passwords.

    SOURCE is the Registry's identity.db (SQLite) or a MySQL/MariaDB URL such as
    mysql://user@host:3306/RegistryAuth. Users, emails, roles and metadata (with
    maxStorageMB) are imported; password hashes are kept and replaced by argon2id at each
    user's first login. Running it again changes only what changed in the Registry, and never
    a user who has since logged in or was changed at the gateway.

    The database password: when the URL names a user but no password, it is taken from the
    environment variable REGISTRY_DB_PASSWORD (also read from .env). Prefer that to
    mysql://user:password@...: a password on the command line is visible to other local
    users (ps) and in the shell history. In a URL, percent-encode special characters of the
    password ('@' as %40, '%' as %25)."""
    import os

    from sqlalchemy import inspect

    from gateway.registry.importer import RegistryImport
    from gateway.registry.source import SourceError

    services = _services(ctx, prepare=not dry_run)
    if dry_run and not inspect(services.database.engine).has_table("local_users"):
        raise UserError(
            "the gateway database has no tables yet: run `gateway db upgrade` "
            "first (a dry run writes nothing)"
        )
    try:
        report = RegistryImport(services).run(
            source, dry_run=dry_run, password=os.environ.get("REGISTRY_DB_PASSWORD") or None
        )
    except SourceError as error:
        raise UserError(f"cannot read the Registry's users: {error}") from None
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    for outcome in report.outcomes:
        click.echo(_import_line(outcome))
        for note in outcome.notes:
            click.echo(f"{'':<10}note: {note}")
    counts = report.counts()
    verbs = {"create": "created", "update": "updated"}
    if dry_run:
        verbs = {"create": "to create", "update": "to update"}
    click.echo(
        ", ".join(f"{counts[action]} {verbs.get(action, action)}" for action in counts)
        + f" (from {report.source})"
    )
    if dry_run:
        click.echo("dry run: nothing written")


def _import_line(outcome) -> str:
    name = outcome.username or outcome.registry_username
    if outcome.username and outcome.username != outcome.registry_username:
        name += f" (Registry: {outcome.registry_username})"
    detail = outcome.reason
    if outcome.action == "update":
        detail = "changes: " + ", ".join(outcome.changes)
    elif outcome.action == "create":
        target = outcome.target
        overrides = target.overrides
        parts = [f"roles {','.join(overrides['roles'])}" if overrides.get("roles") else "no roles"]
        if "maxStorageMB" in overrides:
            parts.append(f"maxStorageMB {overrides['maxStorageMB']}")
        if not target.enabled:
            parts.append("DISABLED")
        parts.append(target.hash_format)
        detail = "; ".join(parts)
    return f"{outcome.action:<10}{name}" + (f": {detail}" if detail else "")


# ---- ldap --------------------------------------------------------------------------------


@main.group()
def ldap() -> None:
    """LDAP / Active Directory providers."""


@ldap.command("test")
@click.argument("username")
@click.option("--provider", "provider_id", help="the ldap provider id (default: the first one)")
@click.option("--password-stdin", is_flag=True, help="read the password from stdin")
@click.pass_context
def ldap_test(ctx, username, provider_id, password_stdin):
    """Try a login step by step: server, filter, DN, bind, groups, and the Registry's answer.

    Nothing is recorded: no session, no account claim, no throttle count.
    """
    from gateway.admin.ldaptrial import ldap_providers, trial_login
    from gateway.mapping import format_explanation

    services = _services(ctx)
    provider = next((p for p in ldap_providers(services) if provider_id in (None, p.id)), None)
    if provider is None:
        raise UserError(
            f"no ldap provider {provider_id!r}" if provider_id else "no ldap provider is configured"
        )
    password = _read_password(password_stdin, confirm=False)
    click.echo(f"provider:  {provider.id} (servers: {', '.join(provider.server_urls)})")

    def note(step: str, detail: str) -> None:
        click.echo(f"{step + ':':<10} {detail}")

    trial = trial_login(services, provider, username, password, note, exclusive_logs=True)
    if trial.identity is None:
        sys.exit(1)
    result = trial.identity
    click.echo(f"identity:  subject={result.subject} email={result.email} name={result.display_name}")
    click.echo(f"           attributes={dict(result.attributes)} overrides={dict(result.overrides)}")
    click.echo(format_explanation(trial.evaluation, trial.answer))
    sys.exit(0 if trial.answer is not None else 1)


# ---- tokens and keys ---------------------------------------------------------------------


@main.group()
def tokens() -> None:
    """Signed tokens for the token path."""


@tokens.command("mint")
@click.argument("username")
@click.option("--lifetime", type=int, help="session lifetime in seconds")
@click.pass_context
def tokens_mint(ctx, username, lifetime):
    """Start a session for USERNAME and print a token bound to it."""
    from gateway.admin.useroperations import UserService

    services = _services(ctx)
    identity = UserService(services).identity(username)
    if identity is None:
        raise UserError(f"no enabled user {username!r} that can be looked up")
    seconds = lifetime or services.config.tokens.session_lifetime_seconds
    session = services.sessions.create(identity, timedelta(seconds=seconds))
    click.echo(services.tokens.mint(identity.username, session.id, expires_at=session.expires_at))


@main.group()
def keys() -> None:
    """Token-signing keys."""


@keys.command("list")
@click.pass_context
def keys_list(ctx):
    for key in _services(ctx).keyring.list_keys():
        click.echo(
            f"{key['kid']}  {key['alg']:<6} {key['state']:<9} created {key['created_at']}"
            f"  expires {key['expires_at'] or '-'}"
        )


@keys.command("rotate")
@click.pass_context
def keys_rotate(ctx):
    """Make a new signing key; the old one verifies until its last token has expired."""
    services = _services(ctx)
    tokens_config = services.config.tokens
    # Other workers may sign with the old key until their key cache refreshes.
    retire_after = timedelta(
        seconds=tokens_config.lifetime_seconds + tokens_config.leeway_seconds + services.keyring.cache_seconds
    )
    kid = services.keyring.rotate(retire_after)
    services.audit.record("key_rotated", "ok", kid=kid)
    click.echo(f"new signing key {kid}; previous keys retire in {retire_after}")


@keys.command("secret")
def keys_secret():
    """Print a new random value for GATEWAY_KEY_ENCRYPTION_KEY."""
    from gateway.tokens import generate_secret

    click.echo(generate_secret())


if __name__ == "__main__":
    main()
