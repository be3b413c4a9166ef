"""Start and stop real servers (PostgreSQL, Redis, the gateway under gunicorn)
for tests, each on a free loopback port inside a temp directory.

Plain Python, no pytest import: usable from fixtures, benchmarks and scripts.

Every process is started in its own session/process group
(``start_new_session=True``) and registered so that it is killed at
interpreter exit even when a test crashes; where ``setpriv`` is available the
process started from the main thread additionally gets a parent-death signal,
so it also goes away when the Python process is killed with SIGKILL (servers
started from other threads rely on atexit only: the kernel ties that signal to
the forking thread, not the process).

A missing binary raises :class:`ServerBinaryMissing` naming the Debian package
to install; nothing here ever skips.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

from tests.support.paths import REPO_ROOT

__all__ = [
    "ServerBinaryMissing",
    "ServerStartError",
    "free_port",
    "wait_for",
    "PostgresServer",
    "RedisServer",
    "GunicornGateway",
]

T = TypeVar("T")

# Ports of the machine's own services; never hand these out.
_RESERVED_PORTS = {5432, 6379, 8000, 8080}
_handed_out: set[int] = set()
_port_lock = threading.Lock()


class ServerBinaryMissing(RuntimeError):
    """A server binary needed by the tests is not installed."""


class ServerStartError(RuntimeError):
    """A server process did not come up."""


# --------------------------------------------------------------------------
# generic helpers
# --------------------------------------------------------------------------


def _ephemeral_ports() -> range:
    """The ports the kernel picks for outgoing connections (and for ``bind(0)``)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)  # Linux's default


def _candidate_ports() -> list[int]:
    ephemeral = _ephemeral_ports()
    return [
        port
        for port in (*range(20000, ephemeral.start), *range(ephemeral.stop, 65536))
        if port not in _RESERVED_PORTS
    ]


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1 (never one handed out before
    by this process, never a well-known service port).

    The port is bound later by the server that gets it, so it is taken from outside the
    kernel's ephemeral range: there, any outgoing connection of the busy test machine (the
    tests make thousands) could take it as its source port in between."""
    with _port_lock:
        candidates = _candidate_ports()
        for _ in range(200 if candidates else 0):
            port = random.choice(candidates)
            if port in _handed_out:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
        for _ in range(100):  # no range outside the ephemeral one: as the kernel picks
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _RESERVED_PORTS and port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("could not find a free loopback port")


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | None = None,
) -> T:
    """Call ``predicate`` until it returns a truthy value and return that
    value; raise ``TimeoutError`` after ``timeout`` seconds.  Exceptions from
    the predicate count as "not yet" (the last one is chained on timeout),
    except :class:`ServerStartError`, which is re-raised at once (a process
    that exited will not come up by waiting)."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            result = predicate()
            if result:
                return result
            last_exc = None
        except ServerStartError:
            raise
        except Exception as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            text = message or f"condition not met within {timeout:.1f}s"
            if last_exc is not None:
                text += f" (last error: {last_exc!r})"
            raise TimeoutError(text) from last_exc
        time.sleep(interval)


def read_logs(*paths: Path) -> str:
    """The concatenated text of the log files that exist (a server may not have made all)."""
    parts = []
    for path in paths:
        try:
            parts.append(path.read_text(errors="replace"))
        except OSError:
            pass
    return "".join(parts)


def find_executable(*names: str, fallbacks: Iterable[str] = ()) -> str | None:
    """The first of ``names`` on PATH, else the first executable of ``fallbacks`` (sbin
    directories are often not on a non-root PATH); None when there is none."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return next((path for path in fallbacks if os.access(path, os.X_OK)), None)


class PortInUse(ServerStartError):
    """The server exited because its port was taken meanwhile: start again on another."""


def log_since(path: Path, offset: int, lines: int = 50) -> str:
    """The last ``lines`` lines written to ``path`` after byte ``offset``."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _tail(path: Path, lines: int = 50) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "<no log>"
    return "\n".join(text.splitlines()[-lines:])


_live: set[_Managed] = set()
_live_lock = threading.Lock()


class _Managed:
    """Base for a started server process: registration for atexit cleanup
    and process-group signalling."""

    proc: subprocess.Popen
    port: int
    startup_seconds: float = 0.0

    def _register(self) -> None:
        with _live_lock:
            _live.add(self)

    def _unregister(self) -> None:
        with _live_lock:
            _live.discard(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _wait(self, timeout: float) -> bool:
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def _terminate(self, timeout: float) -> None:
        """SIGTERM to the leader (graceful), SIGKILL to the whole group after ``timeout``,
        and to any stray children in any case."""
        if self.proc.poll() is None:
            self._signal_group(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            if not self._wait(timeout):
                self._signal_group(signal.SIGKILL)
                self._wait(5)
        self._signal_group(signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL the whole process group at once (no clean shutdown)."""
        self._signal_group(signal.SIGCONT)  # a stopped process can't die cleanly
        self._signal_group(signal.SIGKILL)
        self._wait(10)
        self._cleanup()
        self._unregister()

    def _cleanup(self) -> None:  # overridden where there is something to remove
        pass


@atexit.register
def _kill_all_at_exit() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        try:
            server.kill()
        except Exception:
            pass


def _setpriv() -> str | None:
    return shutil.which("setpriv") or ("/usr/bin/setpriv" if os.access("/usr/bin/setpriv", os.X_OK) else None)


def _launcher(user: str | None, deathsig: str) -> list[str]:
    """Command prefix that runs a server as ``user`` (None: as ourselves)
    with a parent-death signal when possible.  setpriv execs the server, so
    the Popen pid *is* the server (signals reach it directly); runuser stays
    in between as a watching parent that does not forward SIGINT, so it is
    only the fallback."""
    setpriv = _setpriv()
    # The parent-death signal fires when the *thread* that forked exits, so
    # only ask for it from the main thread.
    pdeath = [f"--pdeathsig={deathsig}"] if threading.current_thread() is threading.main_thread() else []
    if user is None:
        return [setpriv, *pdeath, "--"] if setpriv and pdeath else []
    if setpriv:
        return [
            setpriv,
            f"--reuid={user}",
            f"--regid={user}",
            "--init-groups",
            *pdeath,
            "--",
        ]
    runuser = shutil.which("runuser") or "/sbin/runuser"
    if os.access(runuser, os.X_OK):
        return [runuser, "-u", user, "--"]
    raise ServerBinaryMissing(
        f"neither setpriv nor runuser found to run a server as user {user!r}; "
        "install the Debian package 'util-linux'"
    )


def _popen(cmd: list[str], log_dir: Path, name: str, env=None, cwd=None):
    out = open(log_dir / f"{name}.stdout.log", "ab")
    err = open(log_dir / f"{name}.stderr.log", "ab")
    try:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        out.close()
        err.close()


_ADDR_IN_USE = re.compile(r"address already in use|could not bind|errno 98", re.I)


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------


def _postgres_bindir() -> Path:
    env_dir = os.environ.get("TEST_PG_BINDIR")
    if env_dir:
        candidates = [env_dir]
    else:
        candidates = glob.glob("/usr/lib/postgresql/*/bin")

    def version(path: str) -> tuple:
        m = re.search(r"/postgresql/([\d.]+)/bin", path)
        return tuple(int(x) for x in m.group(1).split(".")) if m else (0,)

    for cand in sorted(candidates, key=version, reverse=True):
        p = Path(cand)
        if (p / "initdb").is_file() and (p / "postgres").is_file():
            return p
    raise ServerBinaryMissing(
        "PostgreSQL server binaries (initdb, postgres) not found under "
        "/usr/lib/postgresql/*/bin; install the Debian package 'postgresql' "
        "(apt-get install postgresql), or run scripts/test which does it"
    )


def _traversable_by(path: Path, uid: int, gids: Iterable[int]) -> bool:
    """Whether a process with ``uid``/``gids`` can reach into ``path``."""
    gids = set(gids)
    path = path.resolve()
    for p in [path, *path.parents]:
        try:
            st = p.stat()
        except OSError:
            return False
        if st.st_uid == uid:
            ok = st.st_mode & 0o100
        elif st.st_gid in gids:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return False
    return True


_PG_PREFIX = "gateway-test-pg-"


def _sweep_stale_pg_dirs(parent: Path, min_age: float = 600.0) -> None:
    """Remove data dirs left in a shared temp dir by runs whose Python was
    SIGKILLed (the server itself died with it via the parent-death signal,
    but nobody removed its ~40 MB).  Dirs with a live postmaster, or younger
    than ``min_age`` seconds (an initdb may be running), are kept."""
    now = time.time()
    for d in parent.glob(_PG_PREFIX + "*"):
        try:
            if now - d.stat().st_mtime < min_age:
                continue
            pidfile = d / "data" / "postmaster.pid"
            if pidfile.exists():
                pid = int(pidfile.read_text().split()[0])
                try:
                    os.kill(pid, 0)
                    continue  # still running
                except ProcessLookupError:
                    pass
            shutil.rmtree(d, ignore_errors=True)
        except (OSError, ValueError, IndexError):
            continue


class PostgresServer(_Managed):
    """A throw-away PostgreSQL cluster on 127.0.0.1:<free port>.

    ``url``: SQLAlchemy URL of the ``gateway_test`` database;
    ``create_database(name)`` makes another database and returns its URL.
    """

    DATABASE = "gateway_test"
    USER = "postgres"

    def __init__(self, proc, port, base, datadir, socketdir, log_dir, remove_base):
        self.proc = proc
        self.port = port
        self.host = "127.0.0.1"
        self.base = base
        self.datadir = datadir
        self.socketdir = socketdir
        self.log_dir = log_dir
        self._remove_base = remove_base
        self.url = self.url_for(self.DATABASE)

    # -- connection info ------------------------------------------------
    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.USER}@{self.host}:{self.port}/{dbname}"

    def dsn(self, dbname: str | None = None) -> str:
        """libpq DSN (for psycopg.connect)."""
        return (
            f"host={self.host} port={self.port} user={self.USER} "
            f"dbname={dbname or self.DATABASE} connect_timeout=5"
        )

    def connect(self, dbname: str | None = None, **kwargs):
        import psycopg

        return psycopg.connect(self.dsn(dbname), **kwargs)

    def create_database(self, name: str) -> str:
        """CREATE DATABASE ``name`` and return its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    def log_text(self) -> str:
        return "".join(
            (self.log_dir / f"postgres.{s}.log").read_text(errors="replace")
            for s in ("stdout", "stderr")
            if (self.log_dir / f"postgres.{s}.log").exists()
        )

    # -- lifecycle --------------------------------------------------------
    @classmethod
    def start(cls, tmpdir, timeout: float = 30.0) -> PostgresServer:
        import psycopg

        bindir = _postgres_bindir()
        log_dir = Path(tmpdir)
        log_dir.mkdir(parents=True, exist_ok=True)

        run_as: str | None = None
        uid = gid = None
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root.
            run_as = cls.USER
            try:
                pw = pwd.getpwnam(run_as)
            except KeyError:
                raise ServerBinaryMissing(
                    f"OS user {run_as!r} missing (it is created by the Debian "
                    "package 'postgresql'; apt-get install postgresql)"
                ) from None
            uid, gid = pw.pw_uid, pw.pw_gid
            gids = os.getgrouplist(run_as, gid)
            # pytest's tmp dirs live under a 0700 root-owned directory the
            # postgres user cannot enter: fall back to a traversable temp dir.
            parent = next(
                (
                    Path(c)
                    for c in (log_dir, tempfile.gettempdir(), "/tmp", "/var/tmp")
                    if Path(c).is_dir() and _traversable_by(Path(c), uid, gids)
                ),
                None,
            )
            if parent is None:
                raise ServerStartError("no temp directory reachable by the postgres user")
        else:
            parent = log_dir
        remove_base = parent != log_dir
        if remove_base:
            _sweep_stale_pg_dirs(parent)
        base = Path(tempfile.mkdtemp(prefix=_PG_PREFIX, dir=parent))
        datadir = base / "data"
        socketdir = base / "sock"
        socketdir.mkdir()
        if uid is not None:
            os.chmod(base, 0o700)
            for p in (base, socketdir):
                os.chown(p, uid, gid)

        launcher = _launcher(run_as, "QUIT")
        env = {
            k: v for k, v in os.environ.items() if not k.startswith("PG")
        }  # stray PGDATA/PGPORT/... must not leak into initdb/postgres
        env.update(LC_ALL="C", LANG="C")
        if run_as:
            env.update(HOME=str(base), USER=run_as, LOGNAME=run_as)

        t0 = time.monotonic()
        initdb = subprocess.run(
            launcher
            + [
                str(bindir / "initdb"),
                "-D",
                str(datadir),
                "-A",
                "trust",
                f"--username={cls.USER}",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(base),
            start_new_session=True,
            timeout=120,
        )
        (log_dir / "initdb.log").write_bytes(initdb.stdout)
        if initdb.returncode != 0:
            if remove_base:
                shutil.rmtree(base, ignore_errors=True)
            raise ServerStartError(
                f"initdb failed (exit {initdb.returncode}):\n"
                + initdb.stdout.decode(errors="replace")[-4000:]
            )

        last_error = ""
        for _attempt in range(3):  # retry only on a port race
            port = free_port()
            proc = _popen(
                launcher
                + [
                    str(bindir / "postgres"),
                    "-D",
                    str(datadir),
                    "-p",
                    str(port),
                    "-k",
                    str(socketdir),
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
                log_dir,
                "postgres",
                env=env,
                cwd=str(base),
            )
            server = cls(proc, port, base, datadir, socketdir, log_dir, remove_base)
            server._register()

            def ready(proc=proc, server=server):
                if proc.poll() is not None:
                    raise ServerStartError("exited")
                with psycopg.connect(
                    server.dsn("postgres").replace("connect_timeout=5", "connect_timeout=1")
                ) as conn:
                    conn.execute("SELECT 1")
                return True

            try:
                wait_for(ready, timeout=max(1.0, timeout - (time.monotonic() - t0)), interval=0.1)
            except (TimeoutError, ServerStartError):
                log = _tail(log_dir / "postgres.stderr.log")
                server.kill()
                if proc.returncode is not None and _ADDR_IN_USE.search(log):
                    last_error = log
                    continue
                raise ServerStartError(
                    f"postgres did not accept connections on port {port} "
                    f"(exit code {proc.returncode}); last log lines:\n{log}"
                ) from None
            server.create_database(cls.DATABASE)
            server.startup_seconds = time.monotonic() - t0
            return server
        raise ServerStartError(f"postgres could not bind a port:\n{last_error}")

    def _postmaster_pid(self) -> int:
        # Under the runuser fallback proc.pid is runuser, not the postmaster.
        try:
            return int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return self.proc.pid

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT to the postmaster); escalate if needed."""
        if self.proc.poll() is None:
            self._signal_group(signal.SIGCONT)
            try:
                os.kill(self._postmaster_pid(), signal.SIGINT)
            except ProcessLookupError:
                pass
            if not self._wait(timeout):
                try:
                    os.kill(self._postmaster_pid(), signal.SIGQUIT)  # immediate
                except ProcessLookupError:
                    pass
                if not self._wait(5):
                    self._signal_group(signal.SIGKILL)
                    self._wait(5)
        # Backends left behind by a SIGKILL'd postmaster die on their own,
        # but make sure nothing of the group survives.
        self._signal_group(signal.SIGKILL)
        self._cleanup()
        self._unregister()

    def _cleanup(self) -> None:
        if self._remove_base:
            shutil.rmtree(self.base, ignore_errors=True)


# --------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------


def _no_retry():
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return Retry(NoBackoff(), 0)


class RedisServer(_Managed):
    """A throw-away redis-server on 127.0.0.1:<free port>; ``url`` is
    ``redis://127.0.0.1:PORT/0``."""

    def __init__(self, proc, port, tmpdir):
        self.proc = proc
        self.port = port
        self.host = "127.0.0.1"
        self.tmpdir = tmpdir
        self.url = f"redis://{self.host}:{port}/0"

    def client(self, retries: bool = False, **kwargs):
        """A ``redis.Redis`` for this server.  Without ``retries`` it makes
        exactly one attempt per command (redis-py >= 6 otherwise retries
        timeouts and connection errors with backoff by default, which turns a
        0.5 s socket timeout into several seconds)."""
        import redis

        kwargs.setdefault("socket_timeout", 5)
        kwargs.setdefault("socket_connect_timeout", 5)
        if not retries:
            kwargs.setdefault("retry", _no_retry())
        return redis.Redis.from_url(self.url, **kwargs)

    def log_text(self) -> str:
        return (self.tmpdir / "redis.stdout.log").read_text(errors="replace") + (
            self.tmpdir / "redis.stderr.log"
        ).read_text(errors="replace")

    @classmethod
    def start(cls, tmpdir, timeout: float = 30.0) -> RedisServer:
        import redis

        binary = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None
        )
        if not binary:
            raise ServerBinaryMissing(
                "redis-server not found; install the Debian package "
                "'redis-server' (apt-get install redis-server), or run "
                "scripts/test which does it"
            )
        tmpdir = Path(tmpdir)
        tmpdir.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        last_log = ""
        for _attempt in range(3):  # retry only on a port race
            port = free_port()
            proc = _popen(
                _launcher(None, "KILL")
                + [
                    binary,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(tmpdir),
                    "--daemonize",
                    "no",
                    "--logfile",
                    "",
                ],
                tmpdir,
                "redis",
                cwd=str(tmpdir),
            )
            server = cls(proc, port, tmpdir)
            server._register()

            def ready(proc=proc, port=port):
                if proc.poll() is not None:
                    raise ServerStartError("exited")
                client = redis.Redis(
                    host="127.0.0.1",
                    port=port,
                    socket_timeout=0.5,
                    socket_connect_timeout=0.5,
                    retry=_no_retry(),
                )
                try:
                    return client.ping()
                finally:
                    client.close()

            try:
                wait_for(ready, timeout=timeout, interval=0.05)
            except (TimeoutError, ServerStartError):
                log = _tail(tmpdir / "redis.stdout.log") + _tail(tmpdir / "redis.stderr.log")
                server.kill()
                if proc.returncode is not None and _ADDR_IN_USE.search(log):
                    last_log = log
                    continue
                raise ServerStartError(
                    f"redis-server did not answer PING on port {port} "
                    f"(exit code {proc.returncode}); last log lines:\n{log}"
                ) from None
            server.startup_seconds = time.monotonic() - t0
            return server
        raise ServerStartError(f"redis-server could not bind a port:\n{last_log}")

    def pause(self) -> None:
        """SIGSTOP: the port stays open but nothing is answered (hung server)."""
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        self._signal_group(signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        self._terminate(timeout)
        self._unregister()


# --------------------------------------------------------------------------
# the gateway under gunicorn
# --------------------------------------------------------------------------


def _gunicorn_isolation_args(extra_args: list[str]) -> list[str]:
    """gunicorn >= 24 opens a control socket at a fixed per-user path
    (~/.gunicorn/gunicorn.ctl) that parallel instances would fight over;
    switch it off unless the caller configures it."""
    if any("control-socket" in a for a in extra_args):
        return []
    try:
        from gunicorn.config import KNOWN_SETTINGS
    except Exception:
        return []
    if any("--no-control-socket" in (s.cli or []) for s in KNOWN_SETTINGS):
        return ["--no-control-socket"]
    return []


class GunicornGateway(_Managed):
    """The gateway app served by gunicorn on 127.0.0.1:<free port>;
    ``base_url`` is ``http://127.0.0.1:PORT``."""

    def __init__(self, proc, port, tmpdir):
        self.proc = proc
        self.port = port
        self.tmpdir = tmpdir
        self.base_url = f"http://127.0.0.1:{port}"

    @property
    def stdout_path(self) -> Path:
        return self.tmpdir / "gunicorn.stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.tmpdir / "gunicorn.stderr.log"

    def log_text(self) -> str:
        """Everything the server wrote so far (stdout, then stderr)."""
        return read_logs(self.stdout_path, self.stderr_path)

    @classmethod
    def start(
        cls,
        tmpdir,
        env: Mapping[str, str] | None = None,
        workers: int = 2,
        app: str = "gateway.wsgi:app",
        extra_args: Iterable[str] = (),
        timeout: float = 30.0,
        cwd: str | None = None,
        port: int | None = None,
        python: str | None = None,
    ) -> GunicornGateway:
        """``python`` (default: this interpreter) runs gunicorn, e.g. a virtualenv's with the
        gateway installed from its wheel."""
        import requests

        extra_args = list(extra_args)
        tmpdir = Path(tmpdir)
        tmpdir.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ)
        full_env.update({k: str(v) for k, v in (env or {}).items()})
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        # Run from the repo root so ``gateway`` is importable even without
        # an editable install.
        cwd = cwd or str(REPO_ROOT)

        last_log = ""
        chosen_port = port
        for _attempt in range(1 if chosen_port else 3):  # retry only on a port race
            port = chosen_port or free_port()
            cmd = _launcher(None, "TERM") + [
                python or sys.executable,
                "-m",
                "gunicorn",
                app,
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--timeout",
                "30",
                "--graceful-timeout",
                "5",
                *_gunicorn_isolation_args(extra_args),
                *extra_args,
            ]
            proc = _popen(cmd, tmpdir, "gunicorn", env=full_env, cwd=cwd)
            server = cls(proc, port, tmpdir)
            server._register()

            http = requests.Session()
            http.trust_env = False  # no HTTP(S)_PROXY detour for 127.0.0.1

            def ready(proc=proc, http=http, server=server):
                if proc.poll() is not None:
                    raise ServerStartError("exited")
                r = http.get(f"{server.base_url}/healthz", timeout=0.5)
                return r.status_code == 200

            t0 = time.monotonic()
            try:
                wait_for(ready, timeout=timeout, interval=0.1)
            except (TimeoutError, ServerStartError):
                exited = proc.poll() is not None
                server.stop()
                log = _tail(server.stderr_path, 50)
                if exited and _ADDR_IN_USE.search(log):
                    last_log = log
                    continue
                what = (
                    f"gunicorn exited early with code {proc.returncode}"
                    if exited
                    else f"GET {server.base_url}/healthz did not answer 200 within {timeout:.0f}s"
                )
                raise ServerStartError(f"{what}; last 50 lines of its stderr:\n{log}") from None
            finally:
                http.close()
            server.startup_seconds = time.monotonic() - t0
            return server
        raise ServerStartError(f"gunicorn could not bind a port:\n{last_log}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (graceful), SIGKILL to the whole group after ``timeout``."""
        self._terminate(timeout)
        self._unregister()
