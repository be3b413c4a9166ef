"""``gateway ldap``: try a login against an LDAP / Active Directory provider step by step."""

from __future__ import annotations

import sys

import click

from gateway.cli.context import read_password, services_of
from providers.local.users import UserError


@click.group()
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
    from gateway.mapping import format_explanation

    services = services_of(ctx)
    trials = services.trial_logins()
    provider = next((p for p in trials.providers() if provider_id in (None, p.id)), None)
    if provider is None:
        raise UserError(
            f"no ldap provider {provider_id!r}" if provider_id else "no ldap provider is configured"
        )
    password = read_password(password_stdin, confirm=False)
    click.echo(f"provider:  {provider.id} (servers: {', '.join(provider.server_urls)})")

    def note(step: str, detail: str) -> None:
        click.echo(f"{step + ':':<10} {detail}")

    trial = trials.run(provider, username, password, note, exclusive_logs=True)
    if trial.identity is None:
        sys.exit(1)
    result = trial.identity
    click.echo(f"identity:  subject={result.subject} email={result.email} name={result.display_name}")
    click.echo(f"           attributes={dict(result.attributes)} overrides={dict(result.overrides)}")
    click.echo(format_explanation(trial.evaluation, trial.answer))
    sys.exit(0 if trial.answer is not None else 1)
