"""State shared by every worker process of one machine, in a small SQLite file.

The embedded default runs several gunicorn workers without Redis; throttle counters, lock-outs,
reservations and single-use marks must be exact across them. This store keeps them in their
own SQLite file (``state.db`` beside the database, never the database itself: its writes would
empty the exact read caches that watch the database's commits), in WAL mode, each
read-modify-write in one ``BEGIN IMMEDIATE`` transaction. Times are wall-clock seconds, the
only clock the processes share. Not shared between machines: replicas need Redis.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway.storage.state.base import AttemptOutcome, StoreUnavailable, ThrottleLimits, throttle_keys
from gateway.storage.state.signal import SharedCounter

# A writer waits at most this long for the others' transactions (each takes microseconds, but
# a burst of logins for one account queues them).
BUSY_TIMEOUT_SECONDS = 5.0
_SWEEP_EVERY_WRITES = 2000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS reservations (
    account TEXT NOT NULL, token TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (account, token));
"""


class SqliteStore:
    """The state store on a local SQLite file; every method raises StoreUnavailable rather than
    waiting longer than BUSY_TIMEOUT_SECONDS for the file."""

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time):
        self._path = str(path)
        self._clock = clock
        self._local = threading.local()
        self._writes = 0
        self._schema_pid: int | None = None  # the file is made at first use, not before
        # Bumped after every committed failure: "no new failures anywhere" for a memory read.
        self._failures = SharedCounter(f"{self._path}-failures")

    def get(self, key: str) -> str | None:
        with self._guarded() as connection:
            row = connection.execute(
                "SELECT value FROM kv WHERE key = ? AND expires > ?", (key, self._clock())
            ).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str, ttl: float) -> None:
        with self._transaction() as connection:
            connection.execute(
                "INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (key, value, self._clock() + ttl)
            )

    def add(self, key: str, value: str, ttl: float) -> bool:
        with self._transaction() as connection:
            now = self._clock()
            if self._live(connection, key, now) is not None:
                return False
            connection.execute("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (key, value, now + ttl))
            return True

    def incr(self, key: str, ttl: float) -> int:
        with self._transaction() as connection:
            now = self._clock()
            current = self._live(connection, key, now)
            if current is None:
                connection.execute("INSERT OR REPLACE INTO kv VALUES (?, '1', ?)", (key, now + ttl))
                return 1
            value = int(current) + 1
            connection.execute("UPDATE kv SET value = ? WHERE key = ?", (str(value), key))
            return value

    def delete(self, *keys: str) -> None:
        if keys:
            with self._transaction() as connection:
                connection.executemany("DELETE FROM kv WHERE key = ?", [(key,) for key in keys])

    def ping(self) -> None:
        with self._guarded() as connection:
            connection.execute("SELECT 1").fetchone()

    def begin_attempt(
        self, account: str, token: str, now: float, limits: ThrottleLimits, hold_seconds: float
    ) -> float:
        until_key, failures_key, _ = throttle_keys(account)
        # A read first (WAL readers never wait for the writer): attempts that must wait or are
        # locked out learn it without queueing for the write lock.
        with self._guarded() as connection:
            refused = self._refusal(connection, account, until_key, failures_key, now, limits)
        if refused is not None:
            return refused
        with self._transaction() as connection:
            until = self._live(connection, until_key, now)
            if until is not None and float(until) > now:
                return float(until) - now
            connection.execute("DELETE FROM reservations WHERE account = ? AND expires <= ?", (account, now))
            held = connection.execute(
                "SELECT count(*) FROM reservations WHERE account = ?", (account,)
            ).fetchone()[0]
            failures = int(self._live(connection, failures_key, now) or 0)
            if held >= limits.capacity(failures):
                return -1.0
            connection.execute(
                "INSERT OR REPLACE INTO reservations VALUES (?, ?, ?)", (account, token, now + hold_seconds)
            )
            return 0.0

    def end_attempt(
        self, account: str, token: str | None, now: float, limits: ThrottleLimits, outcome: AttemptOutcome
    ) -> float:
        until_key, failures_key, _ = throttle_keys(account)
        with self._transaction() as connection:
            if token is not None:
                connection.execute(
                    "DELETE FROM reservations WHERE account = ? AND token = ?", (account, token)
                )
            if outcome is AttemptOutcome.SUCCESS:
                connection.execute("DELETE FROM kv WHERE key IN (?, ?)", (until_key, failures_key))
                return 0.0
            if outcome is not AttemptOutcome.FAILURE:
                return 0.0
            failures = int(self._live(connection, failures_key, now) or 0) + 1
            # Sliding: every failure restarts the window.
            connection.execute(
                "INSERT OR REPLACE INTO kv VALUES (?, ?, ?)",
                (failures_key, str(failures), now + limits.window_seconds),
            )
            delay = limits.delay_after(failures)
            if delay > 0:
                connection.execute(
                    "INSERT OR REPLACE INTO kv VALUES (?, ?, ?)", (until_key, repr(now + delay), now + delay)
                )
        self._failures.bump()  # after the commit: whoever sees it can read the failure
        return delay

    def failure_epoch(self) -> int | None:
        """A number that changes after every failure counted on this machine."""
        return self._failures.value()

    def _refusal(
        self,
        connection: sqlite3.Connection,
        account: str,
        until_key: str,
        failures_key: str,
        now: float,
        limits: ThrottleLimits,
    ) -> float | None:
        """The lock-out's remaining time, -1 when the account's allowance is in use, or None
        when a reservation may be tried (read without a transaction)."""
        until = self._live(connection, until_key, now)
        if until is not None and float(until) > now:
            return float(until) - now
        held = connection.execute(
            "SELECT count(*) FROM reservations WHERE account = ? AND expires > ?", (account, now)
        ).fetchone()[0]
        if held >= limits.capacity(int(self._live(connection, failures_key, now) or 0)):
            return -1.0
        return None

    @staticmethod
    def _live(connection: sqlite3.Connection, key: str, now: float) -> str | None:
        row = connection.execute("SELECT value FROM kv WHERE key = ? AND expires > ?", (key, now)).fetchone()
        return row[0] if row else None

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        # One connection per thread and process (a forked worker never reuses its parent's).
        if getattr(local, "pid", None) != os.getpid():
            connection = sqlite3.connect(
                self._path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=True
            )
            _prepare(connection, with_schema=self._schema_pid != os.getpid())
            self._schema_pid = os.getpid()
            local.connection, local.pid = connection, os.getpid()
        return local.connection

    @contextmanager
    def _guarded(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self._connection()
        except sqlite3.Error as error:
            raise StoreUnavailable(f"sqlite: {type(error).__name__}: {error}") from None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE), so a read-modify-write is
        atomic across processes; expired rows are swept now and then."""
        with self._guarded() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                self._writes += 1
                if self._writes % _SWEEP_EVERY_WRITES == 0:
                    now = self._clock()
                    connection.execute("DELETE FROM kv WHERE expires <= ?", (now,))
                    connection.execute("DELETE FROM reservations WHERE expires <= ?", (now,))
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise


def _prepare(connection: sqlite3.Connection, *, with_schema: bool) -> None:
    """WAL mode and, when asked, the tables. Threads and workers opening a new file together
    race for it: switching to WAL takes the file's lock without waiting (SQLite's busy timeout
    does not apply to it), so a refused try is repeated until the busy timeout has passed."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            if with_schema:
                connection.executescript(_SCHEMA)
            return
        except sqlite3.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
