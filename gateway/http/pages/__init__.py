"""The gateway's browser-facing pages: landing page, SSO login/logout, password sign-in,
self-service account."""

from __future__ import annotations

from flask import Flask

from gateway.http.browser import error_page
from gateway.http.pagehandlers import install_page_handlers
from gateway.http.pages import account, account_mfa, login, mfa_login, password, sso_routes
from gateway.http.pages import register as registration
from gateway.sso.service import SsoError


def _refused_page(error: SsoError):
    return error_page(error.status, error.message, 30 if error.status == 503 else None)


# Per blueprint, so the contract endpoint (the hot path) pays nothing for page headers and
# keeps its JSON errors, while every page answers a refusal or an outage with a page.
_PAGES = (sso_routes.bp, login.bp, account.bp, mfa_login.bp, account_mfa.bp, password.bp, registration.bp)
for _blueprint in _PAGES:
    install_page_handlers(_blueprint)
    _blueprint.register_error_handler(SsoError, _refused_page)


def register(app: Flask) -> None:
    for blueprint in _PAGES:
        app.register_blueprint(blueprint)
