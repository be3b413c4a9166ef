"""A throw-away MariaDB server for tests, on a free loopback port.

``MariaDbServer.start(tmpdir)`` runs ``mariadb-install-db`` into a fresh data directory
(``root@localhost`` with no password, no test database) and starts ``mariadbd`` in the
foreground with ``--no-defaults`` (no system my.cnf), listening only on 127.0.0.1:<free port>
and on its own Unix socket, as the current user (``--user=root`` when that is root: mariadbd
refuses root otherwise). Nothing is shared with a MariaDB the machine may already run.

``create_database(name, user, password)`` makes a database and a user with all rights on it and
returns its ``mysql+pymysql://`` URL. Plain Python, no pytest import; a missing binary raises
:class:`tests.support.servers.ServerBinaryMissing` naming the Debian package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.servers import (
    _ADDR_IN_USE,
    ServerBinaryMissing,
    ServerStartError,
    _launcher,
    _Managed,
    _popen,
    find_executable,
    free_port,
    read_logs,
    wait_for,
)

__all__ = ["MariaDbServer"]

_SBIN = ("/usr/sbin/mariadbd", "/usr/sbin/mysqld")
_INSTALL = ("/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db")
_MISSING = (
    "{what} not found; install the Debian package 'mariadb-server' "
    "(apt-get install mariadb-server), or run scripts/test which does it"
)


def _binaries() -> tuple[str, str]:
    server = find_executable("mariadbd", "mysqld", fallbacks=_SBIN)
    install = find_executable("mariadb-install-db", "mysql_install_db", fallbacks=_INSTALL)
    if server is None:
        raise ServerBinaryMissing(_MISSING.format(what="mariadbd"))
    if install is None:
        raise ServerBinaryMissing(_MISSING.format(what="mariadb-install-db"))
    return server, install


class MariaDbServer(_Managed):
    """A MariaDB on 127.0.0.1:``port``; ``socket`` is its Unix socket (root, no password)."""

    def __init__(self, proc, port: int, base: Path, socket_dir: Path):
        self.proc = proc
        self.port = port
        self.host = "127.0.0.1"
        self.base = base
        self.socket_dir = socket_dir
        self.socket = socket_dir / "mariadb.sock"

    # -- use --------------------------------------------------------------------------------
    def connect(self, database: str | None = None, **kwargs):
        """A PyMySQL connection as root over the Unix socket (autocommit)."""
        import pymysql

        return pymysql.connect(
            unix_socket=str(self.socket),
            user="root",
            password="",
            database=database,
            autocommit=True,
            connect_timeout=5,
            **kwargs,
        )

    def execute(self, *statements: str, database: str | None = None) -> None:
        connection = self.connect(database)
        try:
            with connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
        finally:
            connection.close()

    def create_database(self, name: str, user: str = "registry", password: str = "registry-Secret-1") -> str:
        """CREATE DATABASE ``name`` (utf8mb4) and a user ``user``@127.0.0.1 with all rights on
        it; return the ``mysql+pymysql://`` URL that logs in as that user over TCP."""
        self.execute(
            f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci",
            f"CREATE USER IF NOT EXISTS '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'",
            f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{user}'@'127.0.0.1'",
        )
        return f"mysql+pymysql://{user}:{password}@{self.host}:{self.port}/{name}"

    def log_text(self) -> str:
        return read_logs(
            self.base / "mariadbd.stdout.log", self.base / "mariadbd.stderr.log", self.base / "error.log"
        )

    # -- lifecycle --------------------------------------------------------------------------
    @classmethod
    def start(cls, tmpdir, timeout: float = 60.0) -> MariaDbServer:
        server_bin, install_bin = _binaries()
        base = Path(tmpdir)
        base.mkdir(parents=True, exist_ok=True)
        datadir = base / "data"
        as_root = ["--user=root"] if os.geteuid() == 0 else []
        t0 = time.monotonic()
        install = subprocess.run(
            [
                install_bin,
                "--no-defaults",
                *as_root,
                f"--datadir={datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=str(base),
            start_new_session=True,
            timeout=120,
        )
        (base / "install-db.log").write_bytes(install.stdout)
        if install.returncode != 0:
            raise ServerStartError(
                f"mariadb-install-db failed (exit {install.returncode}):\n"
                + install.stdout.decode(errors="replace")[-4000:]
            )

        last_log = ""
        for _attempt in range(3):  # retry only on a port race
            # A short path of its own: Unix socket paths are limited to ~107 bytes.
            socket_dir = Path(tempfile.mkdtemp(prefix="gw-mariadb-"))
            port = free_port()
            command = _launcher(None, "KILL") + [
                server_bin,
                "--no-defaults",
                *as_root,
                f"--datadir={datadir}",
                f"--socket={socket_dir / 'mariadb.sock'}",
                f"--port={port}",
                "--bind-address=127.0.0.1",
                f"--pid-file={base / 'mariadbd.pid'}",
                f"--log-error={base / 'error.log'}",
                f"--tmpdir={base}",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=16M",
                "--innodb-flush-log-at-trx-commit=0",
                "--max-connections=100",
            ]
            proc = _popen(command, base, "mariadbd", cwd=str(base))
            server = cls(proc, port, base, socket_dir)
            server._register()

            def ready(proc=proc, server=server):
                if proc.poll() is not None:
                    raise ServerStartError("exited")
                connection = server.connect()
                connection.close()
                return True

            try:
                wait_for(ready, timeout=max(1.0, timeout - (time.monotonic() - t0)), interval=0.1)
            except (TimeoutError, ServerStartError):
                log = server.log_text()[-4000:]
                server.kill()
                if proc.returncode is not None and _ADDR_IN_USE.search(log):
                    last_log = log
                    continue
                raise ServerStartError(
                    f"mariadbd did not accept connections on port {port} "
                    f"(exit code {proc.returncode}); last log lines:\n{log}"
                ) from None
            server.startup_seconds = time.monotonic() - t0
            return server
        raise ServerStartError(f"mariadbd could not bind a port:\n{last_log}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (a clean shutdown), SIGKILL to the group after ``timeout``."""
        self._terminate(timeout)
        self._cleanup()
        self._unregister()

    def _cleanup(self) -> None:
        shutil.rmtree(self.socket_dir, ignore_errors=True)
