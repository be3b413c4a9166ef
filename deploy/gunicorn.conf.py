"""Production gunicorn configuration: ``gunicorn -c deploy/gunicorn.conf.py gateway.wsgi:app``.

Sized for the machine (one worker per usable core x 4 threads by default; set GATEWAY_WORKERS and
GATEWAY_THREADS). The master prepares the database once (migrations, first signing key, the
local admin on an empty database) before any worker starts. Workers share Prometheus metrics
through PROMETHEUS_MULTIPROC_DIR (a private temporary directory unless set).

Timeouts come from ``gateway.http.serving.gunicorn_options`` (one source for this file and
``gateway serve``). With the gthread workers used here, ``timeout`` only catches a worker
whose main loop is stuck; a slow request is bounded by the gateway's own budgets (docs/operations.md,
"Time budget"), and a reverse proxy in front should give up a little later (35 s, see
deploy/nginx/gateway.conf), far below the Registry's 100 s. Whatever stops the process must
wait longer than ``graceful_timeout`` (Kubernetes terminationGracePeriodSeconds, systemd
TimeoutStopSec, compose stop_grace_period: 45 s in deploy/).
"""

from gateway.config.settings import load_settings
from gateway.http.serving import gunicorn_options, prepare_metrics_dir

prepare_metrics_dir()  # first, before prometheus_client is imported: workers share metrics here
_settings = load_settings()
globals().update(gunicorn_options(_settings))
wsgi_app = "gateway.wsgi:app"


def on_starting(server):
    from gateway.config.file import load_config
    from gateway.services import build_services

    services = build_services(_settings, load_config(_settings.config_path))
    try:
        services.prepare()
    finally:
        services.close()
