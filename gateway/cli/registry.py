"""``gateway registry sync``: run the directory sync now (the one the schedule runs)."""

from __future__ import annotations

import json

import click

from gateway.cli.context import actor, services_of
from gateway.registry.syncresult import CHANGE_KINDS, SyncResult
from gateway.registry.syncschedule import SyncBusy
from providers.local.users import UserError


@click.group()
def registry() -> None:
    """Keeping the Registry in step with the gateway."""


@registry.command("sync")
@click.option("--dry-run", is_flag=True, help="Report what a run would change; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's result as JSON.")
@click.pass_context
def registry_sync(ctx, dry_run, as_json):
    """Check every user the gateway has seen from a directory (LDAP/AD) against it: leavers
    and disabled accounts are disabled here, changed groups re-mapped. One run at a time
    across replicas; exits 2 when another is under way."""
    runner = services_of(ctx).directory_sync()
    if not runner.sync.directories:
        raise UserError("no provider can list its users (the sync reads ldap providers)")
    try:
        result = runner.run(dry_run=dry_run, trigger=actor())
    except SyncBusy as busy:
        raise UserError(str(busy)) from None
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(summary(result))
    if result.state == "failed":
        ctx.exit(1)


def summary(result: SyncResult) -> str:
    """A few human lines: the totals, then each directory (and why a read failed)."""
    head = "dry run: would change" if result.dry_run else "sync"
    lines = [f"{head} ({result.state}, {result.duration_seconds:.1f} s)"]
    for outcome in result.directories:
        if outcome.failed:
            lines.append(f"  {outcome.provider}: not read, nothing changed: {outcome.failed}")
            continue
        counts = ", ".join(f"{kind} {outcome.counts[kind]}" for kind in CHANGE_KINDS)
        lines.append(
            f"  {outcome.provider}: checked {outcome.checked}, unchanged {outcome.unchanged}, {counts}, "
            f"problems {outcome.problem_count}"
        )
        for kind in CHANGE_KINDS:
            if outcome.names[kind]:
                lines.append(f"    {kind}: {' '.join(outcome.names[kind])}")
    return "\n".join(lines)
