"""What every HTML page of the gateway gets, whichever blueprint serves it (the pages and the
admin UI): security headers, a 400 page for NUL characters, a 503 page for an outage."""

from __future__ import annotations

import logging

from flask import Blueprint, request

from gateway.http.browser import OUTAGES, error_page
from gateway.sso.service import UNAVAILABLE

log = logging.getLogger(__name__)

# Every HTML page: nothing from elsewhere but images (provider logos), and no framing, except
# the logout page, which sets its own frame-ancestors for the Registry (contract §3).
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' https: data:; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# A page with a copy button: the same, plus the gateway's own scripts (never inline ones).
SCRIPT_PAGE_POLICY = PAGE_POLICY.replace("default-src 'none'; ", "default-src 'none'; script-src 'self'; ")


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


def _outage_page(error: Exception):
    log.warning("browser page: %s unavailable", type(error).__name__)
    return error_page(503, UNAVAILABLE, 5)


def _refuse_nul():
    """A NUL in any query or form value is a 400 page: no user types one, and PostgreSQL
    refuses it in text (which would otherwise surface as an error deep in a query)."""
    for values in (request.args, request.form):
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                return error_page(400, "The request contains a character that is not allowed.")
    return None


def install_page_handlers(blueprint: Blueprint) -> None:
    """Give every response of ``blueprint`` the pages' security headers, refuse NUL
    characters in its input, and answer an outage (state store, database) with a 503 page.
    Called once per blueprint, at import: the blueprints are module-level, and a process may
    build several apps (tests, tools), while Flask refuses setup on a registered blueprint."""
    blueprint.before_request(_refuse_nul)
    blueprint.after_request(_page_headers)
    for outage in OUTAGES:
        blueprint.register_error_handler(outage, _outage_page)
