"""Request bodies read whole, within a limit per path, before the app runs: a thin WSGI
middleware.

What it promises, however the body is framed (``Content-Length`` or chunked):

* A body over its path's limit is a 413 with a short JSON error, and the app never runs. A
  declared length over the limit is refused before any of the body is read; a chunked body is
  read up to one byte past the limit to find out. (Werkzeug by itself stops reading a chunked
  body at the limit without complaint: the form was parsed from its first 20 KiB.)
* Any other body is read here in full and handed to the app as a buffered stream with its
  ``Content-Length``, so an answer given without looking at the body leaves nothing unread on
  the connection, and keeping the connection alive is honest.
* A body that cannot be read in full (a malformed chunk, a client gone mid-body) is a 400.
* A 413 or 400 from here closes the connection and says so (``Connection: close``). Gunicorn
  drops an application's ``Connection`` header and decides by itself: its ``pre_request`` hook
  :func:`gunicorn_pre_request` (installed by :mod:`gateway.http.serving`) lets this module mark the
  request, so that gunicorn closes *and* announces it, instead of announcing keep-alive and
  closing anyway (a client reusing the connection then met ``RemoteDisconnected``).
* Once a 413 is sent, up to :data:`DRAIN_BYTES` more of the body are read and dropped, so a
  client a little over the limit finishes sending and reads the answer instead of a reset. The
  bound is in bytes only: like every body read under gunicorn's gthread worker, it has no time
  limit of its own.
"""

from __future__ import annotations

import contextvars
import io
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wsgi import get_content_length

log = logging.getLogger(__name__)

# A refused body is read on (and dropped) up to this much further, for the client's sake.
DRAIN_BYTES = 64 * 1024
_READ_SIZE = 64 * 1024


class _ServerRequest(Protocol):
    """What this module uses of gunicorn's request object (gunicorn ships no types)."""

    def force_close(self) -> None: ...


_server_request: contextvars.ContextVar[_ServerRequest | None] = contextvars.ContextVar(
    "server_request", default=None
)


def gunicorn_pre_request(worker: Any, req: Any) -> None:
    """Gunicorn's ``pre_request`` hook: remember the request being served (in the thread that
    serves it), so that :func:`_close_connection` can ask gunicorn to close its connection."""
    worker.log.debug("%s %s", req.method, req.path)  # what gunicorn's default hook does
    _server_request.set(req)


def _close_connection(server_input) -> None:
    """Make the server close this request's connection after the answer, and announce it.

    Under gunicorn that takes the request object the hook saw (checked to be this request's:
    its body is the WSGI input); elsewhere the answer's own ``Connection: close`` suffices.
    """
    req = _server_request.get()
    if req is not None and getattr(req, "body", None) is server_input:
        req.force_close()  # gunicorn >= 22: Response.should_close() then holds


class BodyLimitMiddleware:
    """Reads each request's body up front, within ``limit`` bytes, or the limit of the first
    path prefix in ``prefix_limits`` (``{"/admin/api": 256 * 1024}``) the path is under."""

    def __init__(self, app, limit: int, prefix_limits: Mapping[str, int] | None = None):
        self._app = app
        self._limit = limit
        self._prefix_limits = tuple(
            (prefix.rstrip("/"), size) for prefix, size in (prefix_limits or {}).items()
        )

    def limit_for(self, path: str) -> int:
        """The body limit of requests to ``path``."""
        for prefix, size in self._prefix_limits:
            if path == prefix or path.startswith(prefix + "/"):
                return size
        return self._limit

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        limit = self.limit_for(path)
        server_input = environ.get("wsgi.input")
        declared = get_content_length(environ)
        if declared is None and not environ.get("wsgi.input_terminated"):
            return self._app(environ, start_response)  # no body (werkzeug reads none either)
        if declared is not None and declared > limit:
            log.info("refused a body of %d bytes to %s (limit %d)", declared, path, limit)
            return _refuse(start_response, server_input, 413)
        try:
            body = _read(server_input, limit + 1 if declared is None else declared)
        except Exception as error:  # the server's parse error (a malformed chunk), the socket's
            log.info("unreadable request body: %s", type(error).__name__)
            return _refuse(start_response, server_input, 400)
        if len(body) > limit:
            log.info("refused a chunked body of over %d bytes to %s", limit, path)
            return _refuse(start_response, server_input, 413)
        if declared is not None and len(body) < declared:
            log.info("request body ended after %d of %d bytes", len(body), declared)
            return _refuse(start_response, server_input, 400)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)  # the app sees a body of known length
        return self._app(environ, start_response)


def _read(stream, size: int) -> bytes:
    """Up to ``size`` bytes from ``stream``: fewer only at its end."""
    parts = []
    remaining = size
    while remaining > 0:
        part = stream.read(min(remaining, _READ_SIZE))
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _refuse(start_response, server_input, status: int) -> Iterable[bytes]:
    """A short JSON error (worded as the app's own, gateway.http.errors) that closes the connection;
    after a 413, a little more of the body is read once the answer is on its way."""
    _close_connection(server_input)
    reason = HTTP_STATUS_CODES[status]
    payload = (json.dumps({"error": reason.lower()}, separators=(",", ":")) + "\n").encode()
    start_response(
        f"{status} {reason}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(payload))),
            ("Cache-Control", "no-store"),
            ("Connection", "close"),
        ],
    )
    return _then_drain(payload, server_input) if status == 413 else [payload]


def _then_drain(payload: bytes, server_input) -> Iterator[bytes]:
    """``payload``, then up to DRAIN_BYTES more of the refused body read and dropped (the
    server has sent the answer by then), so that a client a little over the limit is not cut
    off while still sending."""
    yield payload
    try:
        _read(server_input, DRAIN_BYTES)
    except Exception:
        pass
