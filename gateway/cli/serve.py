"""``gateway serve``: prepare the database and serve under gunicorn."""

from __future__ import annotations

import errno
import socket

import click

from gateway.cli.context import services_of
from providers.local.users import UserError


@click.command()
@click.option(
    "--bind",
    help="host:port to listen on (default GATEWAY_BIND or 127.0.0.1:8080); without "
    "GATEWAY_PUBLIC_URL the public URL follows it",
)
@click.option(
    "--workers",
    type=int,
    help="worker processes (default GATEWAY_WORKERS, else auto: one per usable CPU core, at most 16)",
)
@click.pass_context
def serve(ctx: click.Context, bind: str | None, workers: int | None) -> None:
    """Prepare the database and serve under gunicorn."""
    import dataclasses

    from gateway.http.serving import GatewayServer, prepare_metrics_dir

    prepare_metrics_dir()  # before the services import prometheus_client
    services = services_of(ctx)
    settings = services.settings
    if bind:
        settings = settings.with_bind(bind)
    if workers:
        settings = dataclasses.replace(settings, workers=workers)
    services.close()
    ensure_bindable(settings.bind)

    def make_app():
        from gateway.app import create_serving_app

        return create_serving_app(settings=settings)

    GatewayServer(settings, make_app).run()


def ensure_bindable(bind: str) -> None:
    """Return when ``bind`` (host:port) can be listened on; else UserError (exit code 2) at
    once, where gunicorn would retry for seconds and then stop with a traceback-like log."""
    if bind.startswith(("unix:", "fd://")):
        return
    host, _, port = bind.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    try:
        family, kind, protocol, _name, address = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[
            0
        ]
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
            probe.bind(address)
    except (OSError, ValueError) as error:
        reason = (
            "the port is already in use (is another gateway running?)"
            if getattr(error, "errno", None) == errno.EADDRINUSE
            else getattr(error, "strerror", None) or str(error)
        )
        raise UserError(
            f"cannot listen on {bind}: {reason}; stop that process or choose another address "
            "with --bind or GATEWAY_BIND"
        ) from None
