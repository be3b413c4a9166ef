"""Request ids and fixed response headers, as a thin WSGI middleware.

A proxy's ``X-Request-ID`` is kept when it is short and printable; otherwise one is made. The id
is available to log records through a context variable and echoed in the response. (A Flask
before/after hook pair did the same at several times the cost on the token path.)
"""

from __future__ import annotations

import contextvars
import itertools
import os

current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

_PREFIX = os.urandom(4).hex()
_counter = itertools.count(1)
_FIXED_HEADERS = [("X-Content-Type-Options", "nosniff")]


def _request_id(incoming: str | None) -> str:
    if incoming and len(incoming) <= 64 and incoming.isprintable():
        return incoming
    return f"{_PREFIX}{next(_counter):08x}"


class RequestIdMiddleware:
    def __init__(self, app):
        self._app = app

    def __call__(self, environ, start_response):
        request_id = _request_id(environ.get("HTTP_X_REQUEST_ID"))
        token = current_request_id.set(request_id)

        def start(status, headers, exc_info=None):
            headers.append(("X-Request-ID", request_id))
            headers.extend(_FIXED_HEADERS)
            return start_response(status, headers, exc_info)

        try:
            return self._app(environ, start)
        finally:
            current_request_id.reset(token)
