"""``gateway import-registry``: a DroneDB Registry's own users as local users."""

from __future__ import annotations

import json

import click

from gateway.cli.context import services_of
from providers.local.users import UserError


@click.command("import-registry")
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

    from gateway.registry.source import SourceError

    services = services_of(ctx, prepare=not dry_run)
    if dry_run and not inspect(services.database.engine).has_table("local_users"):
        raise UserError(
            "the gateway database has no tables yet: run `gateway db upgrade` "
            "first (a dry run writes nothing)"
        )
    try:
        report = services.registry_import().run(
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
