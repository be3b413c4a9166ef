"""``gateway mapping``: explain, export and import the group → role and quota mapping."""

from __future__ import annotations

import click

from gateway.cli.context import actor, confirm_quota_shrink_option, services_of
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
@confirm_quota_shrink_option()
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


@mapping.group("rules", invoke_without_command=True)
@click.pass_context
def mapping_rules(ctx):
    """List the mapping rules in force, in order, one line each (name, condition, grants);
    show, set or delete one rule with the commands below."""
    if ctx.invoked_subcommand is not None:
        return
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


@mapping_rules.command("show")
@click.argument("name")
@click.pass_context
def mapping_rules_show(ctx, name):
    """Print the rule NAME as YAML: edit it and load it back with `gateway mapping rules set`."""
    from gateway.admin.mappingdoc import policy_yaml

    state = services_of(ctx).mapping_admin().current()
    rule = _rule_named(state["document"], name)
    where = "the config file" if state["source"] == "file" else f"the database, version {state['version']}"
    position = (state["document"].get("rules") or []).index(rule) + 1
    click.echo(
        policy_yaml(
            rule,
            f"Rule {position} of the mapping policy, from {where}.\n"
            "Change it and load it with: gateway mapping rules set FILE",
        ),
        nl=False,
    )


@mapping_rules.command("set")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option(
    "--position",
    type=click.IntRange(min=1),
    help="where a new rule goes, 1 for first (default: last); a rule that exists keeps its place",
)
@confirm_quota_shrink_option()
@click.pass_context
def mapping_rules_set(ctx, file, position, confirm_quota_shrink):
    """Add the rule in FILE (YAML, as `rules show` prints; - for standard input), or replace the
    rule of the same name.

    Checked as the admin API checks it: refused while the config file holds the policy
    (mapping_source: file), for a rule that leaves no enabled admin, and (unless
    --confirm-quota-shrink) for one that lowers users' quota below the storage they use."""
    rule = _read_rule(file)
    admin = services_of(ctx).mapping_admin()
    names = [existing.get("name") for existing in admin.current()["document"].get("rules") or []]
    if rule["name"] in names:
        if position is not None:
            raise UserError(f"rule {rule['name']!r} exists and keeps its place; --position is for a new rule")
        saved = _saving(
            lambda: admin.replace_rule(actor(), rule["name"], rule, confirm_quota_shrink=confirm_quota_shrink)
        )
        done = f"replaced rule {rule['name']!r}"
    else:
        index = None if position is None else position - 1
        saved = _saving(
            lambda: admin.add_rule(actor(), rule, index, confirm_quota_shrink=confirm_quota_shrink)
        )
        place = [r.get("name") for r in saved["document"].get("rules") or []].index(rule["name"])
        done = f"added rule {rule['name']!r} at position {place + 1}"
    _report(done, saved)


@mapping_rules.command("delete")
@click.argument("name")
@confirm_quota_shrink_option()
@click.pass_context
def mapping_rules_delete(ctx, name, confirm_quota_shrink):
    """Delete the rule NAME, with the admin API's checks (see `rules set`)."""
    admin = services_of(ctx).mapping_admin()
    saved = _saving(lambda: admin.delete_rule(actor(), name, confirm_quota_shrink=confirm_quota_shrink))
    _report(f"deleted rule {name!r}", saved)


def _rule_named(document: dict, name: str) -> dict:
    for rule in document.get("rules") or []:
        if isinstance(rule, dict) and rule.get("name") == name:
            return rule
    raise UserError(f"no rule named {name!r} (gateway mapping rules lists them)")


def _read_rule(file) -> dict:
    """The one rule in ``file``: a YAML mapping with a name (a list of exactly one such is
    accepted too); UserError naming the file otherwise. Its content is checked on saving."""
    import yaml

    try:
        data = yaml.safe_load(file.read())
    except yaml.YAMLError as error:
        raise UserError(f"{file.name}: not valid YAML: {' '.join(str(error).split())}") from None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise UserError(
            f"{file.name}: must hold one rule: a YAML mapping with a name, as `rules show` prints"
        )
    return data


def _saving(save):
    """``save()``; a refused quota shrink says which option confirms it."""
    from gateway.admin.errors import AdminError
    from gateway.admin.quotashrink import CONFIRM_FIELD

    try:
        return save()
    except AdminError as error:
        if error.field == CONFIRM_FIELD:
            raise UserError(f"{error.message}; run again with --confirm-quota-shrink") from None
        raise


def _report(done: str, saved: dict) -> None:
    rules = len(saved["document"].get("rules") or [])
    click.echo(f"{done}: mapping policy version {saved['version']} ({rules} rules)")
    for warning in saved.get("warnings") or ():
        click.echo(f"warning: {warning}")


_GRANTS = ("roles", "maxStorageMB", "metadata", "organizations")


def _flow(value) -> str:
    """``value`` as one line of YAML flow style, as it would be written in the file."""
    import yaml

    return (
        yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False)
        .strip()
        .removesuffix("\n...")
    )
