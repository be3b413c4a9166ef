"""The gateway's browser-facing pages: landing page, SSO login/logout, self-service account."""

from __future__ import annotations

from flask import Flask, request

from gateway.web import account, sso_routes

# Every HTML page: nothing from elsewhere but images (provider logos), and no framing, except
# the logout page, which sets its own frame-ancestors for the Registry (contract §3).
PAGE_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self' https: data:; "
               "base-uri 'none'; frame-ancestors 'none'")


def register(app: Flask) -> None:
    app.register_blueprint(sso_routes.bp)
    app.register_blueprint(account.bp)

    @app.after_request
    def _page_headers(response):
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
            if "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]:
                response.headers.setdefault("X-Frame-Options", "DENY")
            response.headers.setdefault("Cache-Control", "no-store")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
        elif request.path.startswith("/static/"):
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response
