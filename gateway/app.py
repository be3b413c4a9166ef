"""The Flask application factory."""

from __future__ import annotations

import secrets

from flask import Flask, g, jsonify, request

from gateway import contract
from gateway.config import GatewayConfig, load_config
from gateway.errors import register_error_handlers
from gateway.logs import configure_logging
from gateway.services import Services, build_services
from gateway.settings import Settings, load_settings

MAX_REQUEST_BYTES = 16 * 1024


def create_app(settings: Settings | None = None, config: GatewayConfig | None = None,
               services: Services | None = None) -> Flask:
    """Build the application. Tests pass their own settings, config or ready-made services."""
    if services is None:
        settings = settings or load_settings()
        config = config or load_config(settings.config_path)
        services = build_services(settings, config)
    configure_logging(services.settings.log_level)

    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES, MAX_FORM_MEMORY_SIZE=MAX_REQUEST_BYTES,
                      JSON_SORT_KEYS=False)
    app.json.sort_keys = False
    app.extensions["gateway"] = services

    register_error_handlers(app)
    app.register_blueprint(contract.bp)

    @app.before_request
    def _request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() \
            else secrets.token_hex(8)

    @app.after_request
    def _headers(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/.well-known/jwks.json")
    def jwks():
        response = jsonify(services.keyring.jwks())
        response.headers["Cache-Control"] = "public, max-age=300"
        return response

    return app
