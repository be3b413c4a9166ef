"""Every error leaves as a small JSON object; never a stack trace, never HTML."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from gateway.storage.db import UNAVAILABLE_ERRORS
from gateway.storage.state import StoreUnavailable
from providers.base import ProviderUnavailable

log = logging.getLogger(__name__)


def json_error(status: int, message: str, **extra):
    """A JSON error response: {"error": message, ...}."""
    response = jsonify({"error": message, **extra})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def unavailable(reason: str):
    response = json_error(503, "service temporarily unavailable")
    response.headers["Retry-After"] = "5"
    log.warning("answering 503: %s", reason)
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        message = (error.name or "error").lower()
        response = json_error(error.code or 500, message)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(ProviderUnavailable)
    def _provider(error: ProviderUnavailable):
        return unavailable(f"provider {error.provider_id}: {error.reason}")

    @app.errorhandler(StoreUnavailable)
    def _store(error: StoreUnavailable):
        return unavailable(f"state store: {error}")

    for database_error in UNAVAILABLE_ERRORS:
        app.register_error_handler(
            database_error, lambda error: unavailable(f"database: {type(error).__name__}")
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error")
        return json_error(500, "internal error")
