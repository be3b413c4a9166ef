"""HTTP connections to an IdP that a watchdog can cut before the answer has begun.

requests bounds each socket read, not a whole call: an IdP that sends its status line and
headers one byte at a time, each byte inside the read timeout, would hold a worker thread for as
long as it likes. Sessions given to :func:`watch_connections` remember, per thread, the
connection the current call uses, so :class:`HeaderWatch` can shut its socket down at a
deadline, which wakes the blocked read.
"""

from __future__ import annotations

import socket
import threading

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class HeaderWatch:
    """Cuts the connection of the call made inside ``with HeaderWatch(seconds):`` on this thread
    if its answer has not begun ``seconds`` after the block was entered. Call :meth:`answered`
    once the response headers are in, to stand the watchdog down."""

    def __init__(self, seconds: float):
        self._seconds = seconds
        self._connection: HTTPConnection | None = None
        self._timer: threading.Timer | None = None

    def __enter__(self) -> "HeaderWatch":
        _current.watch = self
        self._timer = threading.Timer(self._seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.answered()

    def answered(self) -> None:
        if getattr(_current, "watch", None) is self:
            _current.watch = None
        if self._timer is not None:
            self._timer.cancel()

    def _using(self, connection: HTTPConnection) -> None:
        self._connection = connection

    def _cut(self) -> None:
        sock = getattr(self._connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Watched:
    """Tells the thread's HeaderWatch (if any) which connection its call is using."""

    def request(self, *args, **kwargs):
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch._using(self)
        return super().request(*args, **kwargs)


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool,
                                                   "https": _WatchedHTTPSPool}


def watch_connections(session: requests.Session) -> requests.Session:
    """Mount adapters on ``session`` whose connections a :class:`HeaderWatch` can cut; returns
    the session. Settings made on the session itself (``verify``, ``trust_env``) still apply."""
    session.mount("http://", _WatchedAdapter())
    session.mount("https://", _WatchedAdapter())
    return session
