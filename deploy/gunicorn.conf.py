"""Production gunicorn configuration: ``gunicorn -c deploy/gunicorn.conf.py gateway.wsgi:app``.

Sized for a small machine (2 workers x 4 threads by default; set GATEWAY_WORKERS and
GATEWAY_THREADS). The master prepares the database once (migrations, first signing key, the
local admin on an empty database) before any worker starts.
"""

from gateway.serving import gunicorn_options
from gateway.settings import load_settings

_settings = load_settings()
globals().update(gunicorn_options(_settings))
wsgi_app = "gateway.wsgi:app"


def on_starting(server):
    from gateway.bootstrap import prepare
    from gateway.config import load_config
    from gateway.services import build_services

    services = build_services(_settings, load_config(_settings.config_path))
    try:
        prepare(services)
    finally:
        services.close()
