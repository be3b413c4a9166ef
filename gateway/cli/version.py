"""``gateway --version``: the installed version of the ``dronedb-auth-gateway`` distribution."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import click

DISTRIBUTION = "dronedb-auth-gateway"


def gateway_version() -> str:
    """The installed distribution's version, or ``unknown`` when it is run from a source tree
    that was never installed."""
    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "unknown"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"{DISTRIBUTION} {gateway_version()}")
    ctx.exit(0)


version_option = click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
