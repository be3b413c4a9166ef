"""The admin API under ``/admin/api`` and ``POST /api/token``: thin routes over the admin
services. Importing a resource module adds its routes to the one blueprint."""

from __future__ import annotations

from flask import Flask

from gateway.http.adminapi import (  # noqa: F401  (routes register on import)
    activity,
    audit,
    email,
    groups,
    mapping,
    me,
    openapi,
    providerconfigs,
    providers,
    registrations,
    registrysync,
    roles,
    sessions,
    users,
)
from gateway.http.adminapi.base import bp, install_error_handlers
from gateway.http.adminapi.token import token_bp

install_error_handlers(token_bp)


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(token_bp)
