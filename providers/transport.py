"""Outbound HTTP calls bounded as a whole, in time and in size (an IdP's, the Registry's).

requests bounds each socket read, not a whole call: a server that sends its status line,
headers or body one byte at a time, each byte inside the read timeout, would hold a thread for
as long as it likes, and a watchdog on the response object can only start once the headers are
in. Sessions given to :func:`watch_connections` remember, per thread, the connection the current
call uses, so :class:`CallWatch` can shut its socket down at a deadline, which wakes the blocked
read (or TLS handshake). :func:`bounded_request` makes one call that way and reads its body up
to a size bound.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ReadTimeoutError

_current = threading.local()


class CallWatch:
    """Cuts the connection of the call made inside ``with CallWatch(seconds):`` on this thread
    when its deadline passes: ``seconds`` after the block was entered, or as moved by
    :meth:`rearm`. Call :meth:`finish` before the connection can go back to the pool (leaving
    the block does too), so a late timer never cuts a connection serving another call."""

    def __init__(self, seconds: float):
        self._seconds = seconds
        self._connection: HTTPConnection | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._finished = False

    def __enter__(self) -> CallWatch:
        _current.watch = self
        self.rearm(self._seconds)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.finish()

    def rearm(self, seconds: float) -> None:
        """Move the deadline to ``seconds`` from now."""
        with self._lock:
            if self._finished:
                return
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(max(0.0, seconds), self._cut)
            self._timer.daemon = True
            self._timer.start()

    def finish(self) -> None:
        """Stand the watchdog down for good."""
        with self._lock:
            self._finished = True
            if self._timer is not None:
                self._timer.cancel()
        if getattr(_current, "watch", None) is self:
            _current.watch = None

    def _using(self, connection: HTTPConnection) -> None:
        self._connection = connection

    def _cut(self) -> None:
        with self._lock:
            if self._finished:
                return
            sock = getattr(self._connection, "sock", None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Watched(HTTPConnection):
    """Tells the thread's CallWatch (if any) which connection its call is using. (A TLS
    handshake, which urllib3 runs before this, needs no watch: CPython's ssl bounds the whole
    handshake by the socket's timeout.)"""

    def request(self, *args: Any, **kwargs: Any) -> None:
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch._using(self)
        super().request(*args, **kwargs)


class _WatchedHTTPConnection(_Watched):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def watch_connections(session: requests.Session) -> requests.Session:
    """Mount adapters on ``session`` whose connections a :class:`CallWatch` can cut; returns
    the session. Settings made on the session itself (``verify``, ``trust_env``) still apply."""
    session.mount("http://", _WatchedAdapter())
    session.mount("https://", _WatchedAdapter())
    return session


class DeadlinePassed(requests.Timeout):
    """The answer was not in, in full, by the call's deadline (a :class:`requests.Timeout`, so
    code that handles a timeout handles this too)."""


class AnswerTooLarge(requests.RequestException):
    """The answer's body is longer than the call allows."""


def bounded_request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float | tuple[float, float],
    deadline: float,
    max_bytes: int,
    headers_deadline: float | None = None,
    **kwargs: Any,
) -> tuple[requests.Response, bytes]:
    """One call over ``session`` (given to :func:`watch_connections`) and its whole body.

    ``timeout`` goes to requests (it bounds the connect and each read); the answer, headers and
    body, must be in ``deadline`` seconds after the call started, and the connection is shut
    down then (or, for the status line and headers, ``headers_deadline`` seconds after the start
    when given). Returns the closed response (status and headers) and the body. Raises
    :class:`DeadlinePassed` at the deadline, :class:`AnswerTooLarge` past ``max_bytes``, and
    any other failure as a :class:`requests.RequestException`. Redirects are never followed.
    """
    started = time.monotonic()
    end = started + deadline
    try:
        with CallWatch(deadline if headers_deadline is None else headers_deadline) as watch:
            response = session.request(
                method, url, timeout=timeout, allow_redirects=False, stream=True, **kwargs
            )
            watch.rearm(end - time.monotonic())
            with response:
                try:
                    body = _read_body(response, max_bytes)
                finally:
                    watch.finish()  # before the connection can return to the pool
    except (AnswerTooLarge, requests.Timeout):
        raise
    except (requests.RequestException, OSError, ValueError, AttributeError) as error:
        # A connection the watchdog cut fails in whichever layer was reading it.
        if time.monotonic() >= end:
            raise DeadlinePassed(f"no answer within {deadline:g} s") from None
        if (
            isinstance(error, requests.ConnectionError)
            and error.args
            and isinstance(error.args[0], ReadTimeoutError)
        ):
            raise requests.ReadTimeout(str(error)) from None  # a body read's own timeout
        if isinstance(error, requests.RequestException):
            raise
        raise requests.ConnectionError(type(error).__name__) from error
    if time.monotonic() > end:
        raise DeadlinePassed(f"no answer within {deadline:g} s")
    return response, body


def _read_body(response: requests.Response, max_bytes: int) -> bytes:
    body = bytearray()
    for chunk in response.iter_content(65536):
        body += chunk
        if len(body) > max_bytes:
            raise AnswerTooLarge(f"answer longer than {max_bytes} bytes")
    return bytes(body)
