"""``gateway mapping``: explain, export and import the group → role and quota mapping."""

from __future__ import annotations

import click

from gateway.cli.context import services_of
from providers.local.users import UserError


@click.group()
def mapping() -> None:
    """Group → role and quota mapping."""


@mapping.command("explain")
@click.argument("username")
@click.option("--provider", help="explain a hypothetical identity from this provider")
@click.option("--group", "groups", multiple=True, help="hypothetical group (repeatable)")
@click.pass_context
def mapping_explain(ctx, username, provider, groups):
    """Show which rules match USERNAME and the exact answer the Registry would get."""
    from gateway.login.answer import build_answer
    from gateway.mapping import format_explanation
    from providers.base import Identity

    services = services_of(ctx)
    if provider or groups:
        identity = Identity(
            provider=provider or "local", subject="hypothetical", username=username, groups=tuple(groups)
        )
    else:
        identity = services.user_operations().identity(username)
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
    from gateway.admin.mappingdoc import policy_yaml

    state = services_of(ctx).mapping_admin().current()
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
@click.option(
    "--confirm-quota-shrink",
    is_flag=True,
    help="save even if some users' new quota is below the storage they already use",
)
@click.pass_context
def mapping_import(ctx, file, dry_run, confirm_quota_shrink):
    """Replace the mapping policy in the database with FILE (YAML, as `mapping export` writes).

    Prints what changes for each user first. Refused while the config file holds the policy
    (mapping_source: file), for a policy that leaves no enabled admin, and (unless
    --confirm-quota-shrink) for one that lowers users' quota below the storage they use."""
    from gateway.admin.errors import AdminError
    from gateway.admin.mapping import READ_ONLY_MESSAGE
    from gateway.admin.mappingdoc import read_policy_yaml

    try:
        with open(file, encoding="utf-8") as source:
            document = read_policy_yaml(source.read())
    except OSError as error:
        raise UserError(f"{file}: {error.strerror or error}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise UserError(f"{file}: {error}") from None
    services = services_of(ctx)
    if not services.policies.editable:
        raise UserError(READ_ONLY_MESSAGE)
    admin = services.mapping_admin()
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
        saved = admin.save(
            "cli", document, current["version"], change="import", confirm_quota_shrink=confirm_quota_shrink
        )
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
    for warning in preview.get("warnings") or ():
        click.echo(f"warning: {warning}")
    if preview["newRoles"]:
        click.echo(f"new roles: {', '.join(preview['newRoles'])}")


@mapping.command("rules")
@click.pass_context
def mapping_rules(ctx):
    """List the mapping rules in force, in order, one line each (name, condition, grants)."""
    state = services_of(ctx).mapping_admin().current()
    rules = state["document"].get("rules") or []
    where = "the config file" if state["source"] == "file" else f"the database, version {state['version']}"
    click.echo(f"{len(rules)} rules from {where}" + ("" if rules else ": no rules"))
    for rule in rules:
        kind = "require" if "require" in rule else "match"
        grants = [f"{key} {_flow(rule[key])}" for key in _GRANTS if key in rule]
        click.echo(
            f"{rule['name']:<24} {kind} {_flow(rule[kind])}" + (" -> " + "; ".join(grants) if grants else "")
        )


_GRANTS = ("roles", "maxStorageMB", "metadata", "organizations")


def _flow(value) -> str:
    """``value`` as one line of YAML flow style, as it would be written in the file."""
    import yaml

    return (
        yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False)
        .strip()
        .removesuffix("\n...")
    )
