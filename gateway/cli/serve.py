"""``gateway serve``: prepare the database and serve under gunicorn."""

from __future__ import annotations

import click

from gateway.cli.context import services_of


@click.command()
@click.option(
    "--bind",
    help="host:port to listen on (default GATEWAY_BIND or 127.0.0.1:8080); without "
    "GATEWAY_PUBLIC_URL the public URL follows it",
)
@click.option("--workers", type=int, help="worker processes (default GATEWAY_WORKERS: one per CPU core)")
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

    def make_app():
        from gateway.app import create_serving_app

        return create_serving_app(settings=settings)

    GatewayServer(settings, make_app).run()
