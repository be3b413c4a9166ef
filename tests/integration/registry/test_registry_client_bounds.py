"""Every Registry call is bounded as a whole (real sockets on loopback): a Registry that drips
its answer byte by byte, each byte inside the read timeout, is cut off at the connect plus the
read timeout and counts as not answering in time; an answer too long is refused. Callers (the
storage refresh here) see the same RegistryUnavailable as for a Registry that never answers."""

from __future__ import annotations

import base64
import json
import socket
import time

import pytest

from gateway.registry.client import MAX_ANSWER_BYTES, RegistryClient
from gateway.registry.errors import RegistryUnavailable
from gateway.registry.settings import RegistrySettings
from gateway.registry.storagerefresh import StorageRefresh
from gateway.storage.db import Database
from tests.support.loopback import DRIPPED_BODIES, DRIPPED_HEADS, DrippingServer

pytestmark = pytest.mark.integration

CONNECT, READ = 0.5, 0.5  # a whole call: 1 s


def _token() -> str:
    claims = {"exp": int(time.time()) + 3600, "admin": "True"}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"e30.{payload}.sig"


class DrippingRegistry(DrippingServer):
    """Signs the service account in at once, then drips its answer to every other call."""

    def answer(self, connection: socket.socket, request: bytes) -> None:
        if not request.startswith(b"POST /users/authenticate "):
            self.drip(connection)
            return
        body = json.dumps({"username": "bob", "token": _token(), "expires": None}).encode()
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )


def _client(port: int) -> RegistryClient:
    settings = RegistrySettings(
        url=f"http://127.0.0.1:{port}",
        username="bob",
        password="not-used-here-42",
        connect_timeout_seconds=CONNECT,
        read_timeout_seconds=READ,
    )
    return RegistryClient(settings)


def _timed_out(call) -> float:
    """Seconds until ``call`` failed as the Registry not answering in time."""
    started = time.monotonic()
    with pytest.raises(RegistryUnavailable, match="did not answer in time"):
        call()
    return time.monotonic() - started


@pytest.mark.parametrize("head, byte", DRIPPED_BODIES + DRIPPED_HEADS)
def test_a_dripped_answer_is_cut_at_the_connect_plus_read_timeout(head, byte):
    server = DrippingRegistry(head, byte, interval=0.2)  # each byte well inside the read timeout
    client = _client(server.port)
    try:
        client.authenticate()
        assert _timed_out(client.users_detailed) < CONNECT + READ + 1.5
        assert client.health().status == "degraded"
    finally:
        client.close()
        server.stop()


@pytest.mark.parametrize("dripped", [True, False], ids=["dripping", "silent"])
def test_the_storage_refresh_sees_a_dripping_registry_as_one_that_does_not_answer(tmp_path, dripped):
    if dripped:
        server = DrippingRegistry(*DRIPPED_BODIES[0].values, interval=0.2)
    else:
        server = DrippingRegistry(b"", b"", interval=READ * 10)  # answers nothing for ever
    client = _client(server.port)
    database = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    database.upgrade()
    try:
        _timed_out(StorageRefresh(client, database).run_once)
    finally:
        client.close()
        database.dispose()
        server.stop()


def test_an_answer_too_long_is_refused():
    chunk = b" " * 65536
    server = DrippingRegistry(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"%x\r\n%s\r\n" % (len(chunk), chunk),
        interval=0,
    )
    client = _client(server.port)
    try:
        client.authenticate()
        with pytest.raises(RegistryUnavailable, match=f"longer than {MAX_ANSWER_BYTES // 2**20} MiB"):
            client.users_detailed()
    finally:
        client.close()
        server.stop()
