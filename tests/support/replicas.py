"""Several gateway replicas on one database and one Redis, as a scaled-out deployment runs them.

:func:`start_replicas` seeds the database once and starts one gunicorn per replica, each on its
own loopback port with its own (empty) instance directory, all sharing the database URL, the
Redis URL, the key-encryption key, the public URL (the load balancer's address: it is the token
issuer, so it must be the same everywhere) and one configuration file. Only the first replica's
start is preceded by seeding; the others just start, as a new replica joining a running
deployment does (gunicorn's master still runs the idempotent prepare step).

Also here: taking a test's own PostgreSQL or Redis down and bringing it back **on the same port
with the same data directory**, so that the gateways (which are not restarted) must reconnect by
themselves. tests/support/servers.py has no restart; these reuse its launch helpers.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.harness import GatewayUnderTest, gateway_env, seed
from tests.support.paths import REPO_ROOT
from tests.support.servers import (
    GunicornGateway,
    PostgresServer,
    RedisServer,
    _launcher,
    _popen,
    _postgres_bindir,
    free_port,
    wait_for,
)

GUNICORN_CONF = REPO_ROOT / "deploy" / "gunicorn.conf.py"


@dataclass
class Replica(GatewayUnderTest):
    name: str = ""
    port: int = 0
    workers: int = 2
    gunicorn_dir: Path | None = None

    @property
    def alive(self) -> bool:
        return self.server.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole gunicorn (master and workers) at once: no clean shutdown."""
        self.server.kill()

    def restart(self) -> None:
        """Start this replica again on its port (after a kill or stop); no seeding."""
        if self.alive:
            self.server.stop()
        self.server = _start_gunicorn(self.gunicorn_dir, self.env, self.workers, self.port)


@dataclass
class Replicas:
    replicas: list[Replica]
    env: dict[str, str]  # what every replica shares
    public_url: str
    config_path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def a(self) -> Replica:
        return self.replicas[0]

    @property
    def b(self) -> Replica:
        return self.replicas[1]

    def __iter__(self):
        return iter(self.replicas)

    def ensure_running(self) -> None:
        for replica in self.replicas:
            if not replica.alive:
                replica.restart()

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """``gateway ARGS`` with the replicas' environment, as an operator runs it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(self.env, PYTHONUNBUFFERED="1")
        return subprocess.run(
            [sys.executable, "-m", "gateway", *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self) -> None:
        for replica in self.replicas:
            if replica.alive:
                replica.stop()


def _start_gunicorn(directory: Path, env: dict[str, str], workers: int, port: int) -> GunicornGateway:
    return GunicornGateway.start(
        directory, env=env, workers=workers, port=port, timeout=60, extra_args=["-c", str(GUNICORN_CONF)]
    )


def start_replicas(
    tmp_path: Path,
    config_text: str,
    *,
    database_url: str,
    redis_url: str,
    users: list[dict[str, Any]],
    count: int = 2,
    workers: int = 2,
    ports: list[int] | None = None,
    public_url: str | None = None,
    extra: dict[str, str] | None = None,
) -> Replicas:
    """Seed ``database_url`` with ``users`` once, then start ``count`` replicas sharing it.

    ``public_url`` (GATEWAY_PUBLIC_URL, the token issuer) defaults to the first replica's
    address: in production it is the load balancer's.
    """
    ports = list(ports or [free_port() for _ in range(count)])
    public_url = public_url or f"http://127.0.0.1:{ports[0]}"
    shared = gateway_env(
        tmp_path / "shared",
        config_text,
        database_url=database_url,
        redis_url=redis_url,
        extra={"GATEWAY_PUBLIC_URL": public_url, **(extra or {})},
    )
    seed(shared, users)
    started: list[Replica] = []
    try:
        for index, port in enumerate(ports):
            name = "ABCDEFGH"[index]
            instance_dir = tmp_path / f"instance-{name}"
            instance_dir.mkdir(parents=True, exist_ok=True)
            env = {**shared, "GATEWAY_INSTANCE_DIR": str(instance_dir)}  # nothing shared on disk
            directory = tmp_path / f"gunicorn-{name}"
            server = _start_gunicorn(directory, env, workers, port)
            started.append(
                Replica(
                    server=server,
                    env=env,
                    instance_dir=instance_dir,
                    name=name,
                    port=port,
                    workers=workers,
                    gunicorn_dir=directory,
                )
            )
    except BaseException:
        for replica in started:
            replica.stop()
        raise
    return Replicas(started, shared, public_url, Path(shared["GATEWAY_CONFIG"]))


# ---- a test's own PostgreSQL / Redis: down, and back on the same port ------------------------


def postgres_down(server: PostgresServer, timeout: float = 20.0) -> None:
    """Fast shutdown (SIGINT to the postmaster: sessions are ended, new connections refused),
    keeping the data directory so that :func:`postgres_up` can bring the same cluster back."""
    if server.proc.poll() is not None:
        return
    os.kill(server._postmaster_pid(), signal.SIGINT)
    try:
        server.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(server._postmaster_pid(), signal.SIGQUIT)
        server.proc.wait(timeout=10)


def postgres_up(server: PostgresServer, timeout: float = 30.0) -> None:
    """Start the cluster stopped by :func:`postgres_down` again, same port and data."""
    import psycopg

    if server.proc.poll() is None:
        return
    run_as = PostgresServer.USER if os.geteuid() == 0 else None
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    if run_as:
        env.update(HOME=str(server.base), USER=run_as, LOGNAME=run_as)
    server.proc = _popen(
        _launcher(run_as, "QUIT")
        + [
            str(_postgres_bindir() / "postgres"),
            "-D",
            str(server.datadir),
            "-p",
            str(server.port),
            "-k",
            str(server.socketdir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=32MB",
        ],
        server.log_dir,
        "postgres",
        env=env,
        cwd=str(server.base),
    )
    server._register()

    def ready():
        if server.proc.poll() is not None:
            raise RuntimeError(f"postgres exited again:\n{server.log_text()[-3000:]}")
        with psycopg.connect(server.dsn().replace("connect_timeout=5", "connect_timeout=1")) as conn:
            conn.execute("SELECT 1")
        return True

    wait_for(ready, timeout=timeout, interval=0.1, message="postgres did not come back")


def redis_down(server: RedisServer) -> None:
    """Stop redis-server (SIGTERM; it keeps nothing: the tests run it without persistence)."""
    server._terminate(10)


def redis_up(server: RedisServer, timeout: float = 30.0) -> None:
    """Start redis-server again on the same port (empty, as after a restart)."""
    if server.proc.poll() is None:
        return
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    server.proc = _popen(
        _launcher(None, "KILL")
        + [
            binary,
            "--port",
            str(server.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(server.tmpdir),
            "--daemonize",
            "no",
            "--logfile",
            "",
        ],
        server.tmpdir,
        "redis",
        cwd=str(server.tmpdir),
    )
    server._register()

    def ready():
        if server.proc.poll() is not None:
            raise RuntimeError("redis-server exited again")
        client = server.client(socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return client.ping()
        finally:
            client.close()

    started = time.monotonic()
    wait_for(ready, timeout=timeout, interval=0.05, message="redis did not come back")
    server.startup_seconds = time.monotonic() - started


__all__ = ["Replica", "Replicas", "postgres_down", "postgres_up", "redis_down", "redis_up", "start_replicas"]
