"""Tiny HTTP servers on loopback that misbehave on purpose: for tests that check an outbound
call is bounded whatever the server does."""

from __future__ import annotations

import socket
import threading
import time

import pytest


class LoopbackServer:
    """Accepts connections on a free loopback port and hands each to ``handle`` on a thread of
    its own, until ``stop``."""

    def __init__(self):
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(4)
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.handle, args=(connection,), daemon=True).start()

    def handle(self, connection):
        raise NotImplementedError

    def stop(self):
        self._stop.set()
        self._socket.close()


class DrippingServer(LoopbackServer):
    """Answers every request with ``head``, then ``byte`` every ``interval``, for ever."""

    def __init__(self, head: bytes, byte: bytes, interval: float = 0.3):
        self._head, self._byte, self._interval = head, byte, interval
        super().__init__()

    def handle(self, connection):
        try:
            self.answer(connection, connection.recv(65536))
        except OSError:
            pass
        finally:
            connection.close()

    def answer(self, connection: socket.socket, request: bytes) -> None:
        """Answer the request whose first bytes are ``request`` (the drip, unless overridden)."""
        self.drip(connection)

    def drip(self, connection: socket.socket) -> None:
        connection.sendall(self._head)
        while not self._stop.is_set():
            time.sleep(self._interval)
            connection.sendall(self._byte)


# The heads and bytes of a dripped answer: a body, chunked or not; the status line; headers.
DRIPPED_BODIES = [
    pytest.param(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
        b" ",
        id="body",
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"1\r\n \r\n",
        id="chunked-body",
    ),
]
DRIPPED_HEADS = [
    pytest.param(b"", b"H", id="status-line"),
    pytest.param(b"HTTP/1.1 200 OK\r\n", b"X-Slow: y\r\n", id="headers"),  # for ever
]
