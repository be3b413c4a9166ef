"""``gateway check-config``: validate the environment and the configuration file."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

from gateway.config.errors import ConfigError, raise_all

if TYPE_CHECKING:
    from gateway.config.settings import Settings

V = TypeVar("V")


@click.command("check-config")
def check_config() -> None:
    """Validate the environment and the configuration file without starting."""
    from gateway.admin.providerconfigs import ignored_providers_warning
    from gateway.cli.checkregistry import service_account_warnings
    from gateway.config.adminpassword import VARIABLE, check_admin_password
    from gateway.config.file import load_config
    from gateway.config.settings import config_path_of, environment, load_settings
    from gateway.mapping import evaluate
    from providers.base import Identity

    # Every problem in one run: the environment's and the file's, then the admin password.
    problems: list[ConfigError] = []
    environ = environment()
    settings = _collect(problems, lambda: load_settings(environ))
    config = _collect(problems, lambda: load_config(config_path_of(environ)))
    password = environ.get(VARIABLE)
    if config is not None and password:
        _collect(
            problems, lambda: check_admin_password(password, config.password_policy, config.admin.username)
        )
    raise_all(problems)
    assert settings is not None and config is not None  # raise_all raised otherwise

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
    if config.provider_source == "file":
        ignored = ignored_providers_warning(_database_provider_ids(settings))
        if ignored:
            click.echo(f"warning: {ignored}", err=True)
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


def _collect(problems: list[ConfigError], check: Callable[[], V]) -> V | None:
    """``check()``, or None with its problems added to ``problems``."""
    try:
        return check()
    except ConfigError as error:
        problems.extend(error.errors)
        return None


def _database_provider_ids(settings: Settings) -> list[str]:
    """The providers kept in the gateway's database; empty when there is no database yet (an
    SQLite file that does not exist is not created) or it cannot be read."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from gateway.storage.db import Database
    from gateway.storage.providertable import stored_provider_ids

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return []
    database = Database(settings.database_url)
    try:
        return stored_provider_ids(database)
    finally:
        database.dispose()
