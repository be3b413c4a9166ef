"""A WSGI app served in a background thread on a free (or given) loopback port, stopped at
interpreter exit if still running."""

from __future__ import annotations

import atexit
import errno
import threading
import time
from typing import Any

from tests.support.servers import ServerStartError, free_port

_live: set[Any] = set()
_live_lock = threading.Lock()


@atexit.register
def _stop_all_at_exit() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        try:
            server.stop()
        except Exception:
            pass


class BackgroundWsgiServer:
    """A WSGI app served by werkzeug (threaded) on ``host``:<free port> (or
    ``port``, to come back on the same address after a stop) in a daemon thread;
    ``port``, ``url``, ``stop()``.  Stopped at interpreter exit if still running."""

    def __init__(
        self,
        app,
        host: str = "127.0.0.1",
        name: str = "wsgi",
        port: int | None = None,
        ssl_context: tuple[str, str] | None = None,
    ):
        from werkzeug.serving import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            def log_request(self, *args, **kwargs):  # no access log on stderr
                pass

        last: OSError | None = None
        fixed = port
        for _ in range(5):
            port = fixed or free_port()
            try:
                server = make_server(
                    host, port, app, threaded=True, request_handler=QuietHandler, ssl_context=ssl_context
                )
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                last = exc
                if fixed:
                    time.sleep(0.2)  # the old socket of this port may still be closing
                continue
            break
        else:
            raise ServerStartError(f"{name}: no free port ({last})")
        server.daemon_threads = True
        self.host, self.port, self._server = host, port, server
        self.scheme = "https" if ssl_context else "http"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"{name}-{port}", daemon=True
        )
        self._thread.start()
        with _live_lock:
            _live.add(self)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            self._thread.join(timeout=10)
        with _live_lock:
            _live.discard(self)
