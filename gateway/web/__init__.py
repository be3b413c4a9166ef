"""The gateway's browser-facing pages: landing page, SSO login/logout, self-service account."""

from __future__ import annotations

from flask import Blueprint, Flask

from gateway.web import account, sso_routes

# Every HTML page: nothing from elsewhere but images (provider logos), and no framing, except
# the logout page, which sets its own frame-ancestors for the Registry (contract §3).
PAGE_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self' https: data:; "
               "base-uri 'none'; frame-ancestors 'none'")


def _page_headers(response):
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        if "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]:
            response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Cache-Control", "no-store")
        # same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on the
        # gateway's own form posts, and the CSRF check compares the Origin.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def register(app: Flask) -> None:
    # Headers are added per blueprint so the contract endpoint (the hot path) pays nothing.
    blueprint: Blueprint
    for blueprint in (sso_routes.bp, account.bp):
        blueprint.after_request(_page_headers)
        app.register_blueprint(blueprint)
