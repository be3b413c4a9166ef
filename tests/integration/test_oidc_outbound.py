"""Calls to an IdP are bounded in time whatever the IdP does (real sockets on loopback): an
answer dripped byte by byte is cut at the deadline, and an IdP that was down at start is not
asked again by every login (the cold-cache circuit breaker)."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from providers.base import ProviderUnavailable
from providers.oidc.metadata import COLD_RETRY_SECONDS, Http
from providers.oidc.provider import OidcProvider
from providers.oidc.settings import OidcSettings

pytestmark = pytest.mark.integration


class DrippingServer:
    """Accepts connections and answers 200 with a long body, one byte every ``interval``."""

    def __init__(self, head: bytes, byte: bytes, interval: float = 0.3):
        self._head, self._byte, self._interval = head, byte, interval
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
            threading.Thread(target=self._drip, args=(connection,), daemon=True).start()

    def _drip(self, connection):
        try:
            connection.recv(65536)
            connection.sendall(self._head)
            while not self._stop.is_set():
                time.sleep(self._interval)
                connection.sendall(self._byte)
        except OSError:
            pass
        finally:
            connection.close()

    def stop(self):
        self._stop.set()
        self._socket.close()


@pytest.mark.parametrize("head, byte", [
    (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n", b" "),
    (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
     b"1\r\n \r\n"),
])
def test_a_dripped_answer_is_cut_at_the_deadline(head, byte):
    server = DrippingServer(head, byte)
    session = requests.Session()
    session.trust_env = False
    try:
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable, match="timed out"):
            Http("idp", 1.0, session).get_json(f"http://127.0.0.1:{server.port}/jwks", "jwks")
        assert time.monotonic() - started < 2.0
    finally:
        session.close()
        server.stop()


@pytest.mark.parametrize("head, byte", [
    (b"", b"H"),                                       # the status line, byte by byte
    (b"HTTP/1.1 200 OK\r\n", b"X-Slow: y\r\n"),        # header after header, for ever
])
def test_dripped_headers_are_cut_within_twice_the_timeout(head, byte):
    """requests bounds each read, not the wait for the headers: a watchdog does."""
    server = DrippingServer(head, byte, interval=0.2)
    session = requests.Session()
    session.trust_env = False
    try:
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable, match="timed out"):
            Http("idp", 1.0, session).get_json(f"http://127.0.0.1:{server.port}/jwks", "jwks")
        assert time.monotonic() - started < 2.5
    finally:
        session.close()
        server.stop()


def test_an_idp_down_at_start_is_not_asked_by_every_login():
    server = DrippingServer(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b" ")
    settings = OidcSettings(issuer=f"http://127.0.0.1:{server.port}", client_id="gw",
                            client_secret="s", timeout_seconds=0.5)
    provider = OidcProvider("idp", settings, lambda name: name)
    try:
        with pytest.raises(ProviderUnavailable):
            provider.start("http://127.0.0.1:9/cb")
        started = time.monotonic()
        for _ in range(20):
            with pytest.raises(ProviderUnavailable):
                provider.start("http://127.0.0.1:9/cb")
        assert time.monotonic() - started < 0.5   # answered at once
        assert server.connections == 1
        time.sleep(COLD_RETRY_SECONDS + 0.1)
        with pytest.raises(ProviderUnavailable):
            provider.start("http://127.0.0.1:9/cb")
        assert server.connections == 2               # and tried again after the pause
    finally:
        provider.close()
        server.stop()
