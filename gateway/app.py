"""The Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider

from gateway.config.file import load_config
from gateway.config.settings import Settings, load_settings
from gateway.config.settingsobjects import GatewayConfig
from gateway.http import adminapi as admin_api
from gateway.http import adminui as admin_ui
from gateway.http import backchannel, contract, favicon, pages, probes
from gateway.http.adminapi.base import MAX_ADMIN_BODY_BYTES
from gateway.http.bodylimit import BodyLimitMiddleware
from gateway.http.errors import register_error_handlers
from gateway.observe.logs import configure_logging
from gateway.observe.requestid import RequestIdMiddleware
from gateway.services import Services, build_services

log = logging.getLogger(__name__)

# Room for the longest token the token path takes (16384 characters) and its form field.
MAX_REQUEST_BYTES = 20 * 1024


def create_app(
    settings: Settings | None = None, config: GatewayConfig | None = None, services: Services | None = None
) -> Flask:
    """Build the application. Tests pass their own settings, config or ready-made services."""
    if services is None:
        settings = settings or load_settings()
        config = config or load_config(settings.config_path)
        services = build_services(settings, config)
    configure_logging(services.settings.log_level)

    # Pages, templates and static files all live in gateway/http/ (everything Flask).
    app = Flask(__name__, template_folder="http/templates", static_folder="http/static")
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES, MAX_FORM_MEMORY_SIZE=MAX_REQUEST_BYTES, JSON_SORT_KEYS=False
    )
    if isinstance(app.json, DefaultJSONProvider):  # Flask's own; the base type has no sort_keys
        app.json.sort_keys = False
    app.extensions["gateway"] = services

    register_error_handlers(app)
    app.register_blueprint(contract.bp)
    app.register_blueprint(backchannel.bp)
    pages.register(app)
    admin_api.register(app)
    admin_ui.register(app)
    probes.register(app, services)
    favicon.register(app)
    services.registry.start()  # deliver queued Registry writes from this serving process
    services.mail.start()  # and queued e-mail
    # Providers admins changed in the database, on any worker or replica, are in force within
    # the refresh interval (one tiny query at most once a second).
    app.before_request(lambda: services.providers.refresh())

    @app.get("/.well-known/jwks.json")
    def jwks():
        response = jsonify(services.keyring.jwks())
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    # Bodies are read whole, within these limits, before Flask sees them (gateway.http.bodylimit);
    # Flask's own limits above stay as a second line.
    admin_prefix = admin_api.bp.url_prefix
    if admin_prefix is None:
        raise RuntimeError("the admin API blueprint has no url_prefix for its body limit")
    # Wrapping wsgi_app is how Flask documents adding WSGI middleware.
    app.wsgi_app = RequestIdMiddleware(  # type: ignore[method-assign]
        BodyLimitMiddleware(app.wsgi_app, MAX_REQUEST_BYTES, {admin_prefix: MAX_ADMIN_BODY_BYTES})
    )
    return app


def create_serving_app(settings: Settings | None = None) -> Flask:
    """The application as a server runs it: :func:`create_app` plus the work each serving
    process does in the background (the periodic directory sync, started by the process's
    first request so that it runs in the worker, never in a forking master)."""
    app = create_app(settings=settings)
    services = app.extensions["gateway"]
    ignored = services.provider_configs().ignored_warning()
    if ignored:
        log.warning(ignored)
    schedule = services.sync_schedule()
    if schedule.enabled:
        # Only when there is something to run: a before_request hook costs every request
        # (the token path's included) a few microseconds of Flask's ensure_sync.
        app.before_request(schedule.ensure_running)
    return app
