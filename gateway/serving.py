"""Running the gateway under gunicorn, from ``gateway serve`` or a gunicorn config file."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from gateway.settings import Settings

# Gunicorn's worker timeout must exceed the gateway's own worst case (hash slot wait 10 s,
# database connect 3 s + statement 5 s) and stay far below the Registry's 100 s.
WORKER_TIMEOUT_SECONDS = 30


def gunicorn_options(settings: Settings) -> dict:
    """The gunicorn settings the gateway is sized and timed for.

    Without Redis, state (throttle counters, transaction state) is in-process, so the gateway
    runs one worker process; its threads still hash passwords in parallel (argon2 releases the
    GIL). With Redis, GATEWAY_WORKERS processes share state.
    """
    return {
        "bind": settings.bind,
        "workers": settings.workers if settings.redis_url else 1,
        "worker_class": "gthread",
        "threads": settings.threads,
        "timeout": WORKER_TIMEOUT_SECONDS,
        "graceful_timeout": 10,
        "keepalive": 5,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "accesslog": None,
    }


class GatewayServer(BaseApplication):
    """Gunicorn with the gateway app; each worker builds its own app (own DB pool)."""

    def __init__(self, settings: Settings):
        self._settings = settings
        super().__init__()

    def load_config(self):
        for key, value in gunicorn_options(self._settings).items():
            self.cfg.set(key, value)

    def load(self):
        from gateway.app import create_app
        return create_app(settings=self._settings)
