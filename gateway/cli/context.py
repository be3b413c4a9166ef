"""What every command shares: the services of one invocation, the acting operator, password
input, and the group that turns expected errors into one line and exit code 2."""

from __future__ import annotations

import getpass
import sys

import click
from sqlalchemy.exc import InterfaceError, OperationalError

from gateway.admin.errors import AdminError
from gateway.config.errors import ConfigError
from gateway.tokens.cipher import KeyDecryptionError
from providers.base import ProviderUnavailable
from providers.local.policy import PasswordRejected
from providers.local.users import UserError


def services_of(ctx: click.Context, *, prepare: bool = True):
    """The services of this invocation, built once (and closed when the command ends); the
    database is prepared (migrated, first key and admin) unless ``prepare`` is false."""
    from gateway.config.file import load_config
    from gateway.config.settings import load_settings
    from gateway.services import build_services

    if "services" not in ctx.obj:
        settings = load_settings()
        services = build_services(settings, load_config(settings.config_path))
        ctx.call_on_close(services.close)
        if prepare:
            services.prepare()
        ctx.obj["services"] = services
    return ctx.obj["services"]


def read_password(from_stdin: bool, confirm: bool = True) -> str:
    """One line of standard input without its line ending, or a hidden prompt."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=confirm)


def actor() -> str:
    """Who is acting, for the audit log: the operating-system user running the command (the
    colon keeps it apart from every gateway username)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:?"


def whole_number(text: str) -> int:
    """``text`` as an int, or a UserError naming it."""
    try:
        return int(text)
    except ValueError:
        raise UserError(f"{text!r} is not a whole number") from None


def quota_argument(text: str) -> int | str:
    """A quota typed on the command line (``5120``, ``50 GB``, ``unlimited``) as stored: integer
    MB or ``unlimited``; a UserError naming it otherwise."""
    from gateway.mapping.quota import QuotaError, parse_quota_text

    try:
        return parse_quota_text(text)
    except QuotaError as error:
        raise UserError(f"{text!r}: a quota {error}") from None


class CommandGroup(click.Group):
    """Turns expected errors into one-line messages and exit code 2, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConfigError as error:
            for problem in error.errors:  # every problem found, one line each
                click.echo(f"configuration error: {problem}", err=True)
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


def confirm_quota_shrink_option():
    """The ``--confirm-quota-shrink`` flag of every command whose change may lower a quota below
    the storage in use (the admin API's confirmation, as a flag)."""
    return click.option(
        "--confirm-quota-shrink",
        is_flag=True,
        help="go ahead even if a user's new quota is below the storage they already use",
    )
