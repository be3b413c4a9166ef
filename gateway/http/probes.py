"""``/healthz``, ``/readyz`` and ``/metrics``: what orchestrators and Prometheus ask.

``/healthz`` says the process serves requests and checks nothing else, so a liveness probe
never restarts a healthy gateway because its database is down. ``/readyz`` checks the
database, Redis, the providers and the Registry link (see
:func:`gateway.observe.health.readiness`). ``/metrics`` needs
``Authorization: Bearer <GATEWAY_METRICS_TOKEN>`` when that variable is set.
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Flask, current_app, jsonify, make_response, request

from gateway.http.appservices import services
from gateway.http.errors import json_error
from gateway.mail.deliverer import MailQueueCollector
from gateway.observe.health import HealthMonitor, readiness
from gateway.observe.metrics import StateCollector, exposition
from gateway.registry.outboxmetrics import OutboxCollector
from gateway.services import Services

bp = Blueprint("probes", __name__)


def register(app: Flask, services: Services) -> None:
    monitor = HealthMonitor(services.provider_status)
    app.extensions["gateway_health"] = monitor
    app.extensions["gateway_metrics"] = StateCollector(monitor.providers, services.keyring.list_keys)
    # The outbox's gauges describe the shared table: only with a Registry configured.
    app.extensions["gateway_metrics_more"] = (
        (OutboxCollector(services.registry.outbox, services.registry.health),)
        if services.registry.enabled
        else ()
    ) + ((MailQueueCollector(services.mail.status),) if services.mail.enabled else ())
    app.register_blueprint(bp)


@bp.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    svc = services()
    status, body = readiness(
        svc.database, svc.shared_store, current_app.extensions["gateway_health"], svc.registry
    )
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/metrics")
def metrics():
    token = services().settings.metrics_token
    if token is not None:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
            response = json_error(401, "metrics need the bearer token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    body, content_type = exposition(
        current_app.extensions["gateway_metrics"], *current_app.extensions["gateway_metrics_more"]
    )
    response = make_response(body)
    response.headers["Content-Type"] = content_type
    response.headers["Cache-Control"] = "no-store"
    return response
