"""HTTP connections to an IdP that a watchdog can cut before the answer has begun.

requests bounds each socket read, not a whole call: an IdP that sends its status line and
headers one byte at a time, each byte inside the read timeout, would hold a worker thread for as
long as it likes, and a watchdog on the response object can only start once the headers are
in. Sessions given to :func:`watch_connections` remember, per thread, the connection the current
call uses, so :class:`CallWatch` can shut its socket down at a deadline, which wakes the blocked
read (or TLS handshake).
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

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
