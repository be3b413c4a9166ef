"""The server fixtures start real, private servers on free loopback ports."""

from __future__ import annotations

import time

import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support.servers import RedisServer, _ephemeral_ports, free_port, wait_for

pytestmark = pytest.mark.integration


def test_free_port_is_loopback_and_not_a_system_port():
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    assert not ports & {5432, 6379}


def test_free_port_is_outside_the_range_of_outgoing_connections():
    ephemeral = _ephemeral_ports()
    assert not any(free_port() in ephemeral for _ in range(20))


def test_postgres_accepts_queries_on_its_own_port(postgres_server):
    assert postgres_server.port != 5432
    assert postgres_server.url == (
        f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/gateway_test"
    )
    with psycopg.connect(
        host="127.0.0.1",
        port=postgres_server.port,
        user="postgres",
        dbname="gateway_test",
        connect_timeout=5,
    ) as conn:
        row = conn.execute(
            "SELECT current_database(), current_setting('port')::int, current_setting('fsync'), 1 + 1"
        ).fetchone()
    assert row == ("gateway_test", postgres_server.port, "off", 2)


def test_postgres_create_database_gives_a_fresh_database(postgres_server):
    url = postgres_server.create_database("gateway_fresh_db")
    assert url.endswith(f":{postgres_server.port}/gateway_fresh_db")
    with postgres_server.connect("gateway_fresh_db") as conn:
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (42)")
        assert conn.execute("SELECT x FROM t").fetchone() == (42,)
    with postgres_server.connect() as conn:  # gateway_test does not see it
        assert conn.execute("SELECT to_regclass('public.t')").fetchone() == (None,)


def test_redis_fixture_answers_ping(redis_server):
    assert redis_server.port != 6379
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    client = redis.Redis.from_url(redis_server.url, socket_timeout=2)
    try:
        assert client.ping() is True
        client.set("gateway-test-key", "v")
        assert client.get("gateway-test-key") == b"v"
    finally:
        client.close()


def test_redis_pause_hangs_and_resume_restores(tmp_path):
    # A private server: a failure here must not leave the session's paused.
    server = RedisServer.start(tmp_path)
    # One attempt per command: redis-py retries timeouts by default.
    client = redis.Redis(
        host="127.0.0.1",
        port=server.port,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        assert client.ping() is True
        server.pause()
        try:
            t0 = time.monotonic()
            with pytest.raises(redis.exceptions.TimeoutError):
                client.ping()
            assert time.monotonic() - t0 < 2
            # The helper client does not retry either.
            with server.client(socket_timeout=0.5) as other:
                with pytest.raises(redis.exceptions.TimeoutError):
                    other.ping()
        finally:
            server.resume()
        assert wait_for(client.ping, timeout=5)
    finally:
        client.close()
        server.stop()
    assert server.proc.poll() is not None


def test_redis_kill_ends_the_process(tmp_path):
    server = RedisServer.start(tmp_path)
    server.kill()
    assert server.proc.poll() is not None
    with pytest.raises(redis.exceptions.ConnectionError):
        server.client(socket_connect_timeout=0.5).ping()
