"""``gateway keys``: the token-signing keys."""

from __future__ import annotations

from datetime import timedelta

import click

from gateway.cli.context import services_of


@click.group()
def keys() -> None:
    """Token-signing keys."""


@keys.command("list")
@click.pass_context
def keys_list(ctx):
    """List the signing keys: id, algorithm, state and dates."""
    for key in services_of(ctx).keyring.list_keys():
        click.echo(
            f"{key['kid']}  {key['alg']:<6} {key['state']:<9} created {key['created_at']}"
            f"  expires {key['expires_at'] or '-'}"
        )


@keys.command("rotate")
@click.pass_context
def keys_rotate(ctx):
    """Make a new signing key; the old one verifies until its last token has expired."""
    services = services_of(ctx)
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
