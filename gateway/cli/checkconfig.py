"""``gateway check-config``: validate the environment and the configuration file."""

from __future__ import annotations

import click


@click.command("check-config")
def check_config() -> None:
    """Validate the environment and the configuration file without starting."""
    from gateway.cli.checkregistry import service_account_warnings
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
    for warning in service_account_warnings(settings, config):
        click.echo(f"warning: {warning}", err=True)
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
        f"{', '.join(p.id + ' (' + p.type + ')' for p in config.providers)}"
        f"{' and those in the database' if config.provider_source == 'database' else ''}; {rules}"
    )
