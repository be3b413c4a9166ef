"""The last successful sign-in per user and way in ("who is in"), kept off the hot path.

The Registry calls the password path on every map tile, so a write per request is out of the
question (docs/performance.md). :meth:`LastSignIns.record` only touches process memory: a
sign-in is queued when this process has not queued one for the same user and path within
``interval_seconds`` (60 by default), or when it came from another address or user agent. A
background thread of each process writes what is queued every ``flush_seconds`` (one upsert
per user and path, in one transaction), and once at exit. So a user reading tiles all day costs
each worker process one small write a minute, and no login ever waits on it; the time shown
may lag the latest sign-in by up to ``interval_seconds`` plus ``flush_seconds``.

A failed flush is logged and dropped (the next sign-in after the interval queues again): this
is a convenience for administrators, never a reason to slow or refuse a login.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from gateway.observe.periodic import PeriodicFlush
from gateway.storage.db import Database
from gateway.storage.lastsignin import UserLastSignIn
from providers.sql import utcnow

log = logging.getLogger(__name__)

# The ways in a sign-in is recorded under, in the order pages show them.
PATHS: dict[str, str] = {
    "registry_password": "Registry password",
    "app_password": "App password",
    "registry_token": "Registry token",
    "browser": "Browser",
    "admin_api": "Admin API token",
}
MAX_USER_AGENT_CHARS = 255
MAX_ADDRESS_CHARS = 64
# Beyond this many remembered (user, path) pairs the memory is emptied: the worst case is one
# extra write each, never unbounded growth.
MAX_TRACKED = 50_000
_TABLE = cast(Table, UserLastSignIn.__table__)


@dataclass(frozen=True)
class Client:
    """Who is at the other end, as far as the gateway can tell: the client address (the peer,
    or what a trusted proxy forwarded) and the User-Agent header, both bounded."""

    address: str | None = None
    user_agent: str | None = None

    @classmethod
    def of(cls, address: str | None, user_agent: str | None) -> Client:
        """Bounded and stripped of characters no database or page wants (NUL, controls)."""
        return cls(_bounded(address, MAX_ADDRESS_CHARS), _bounded(user_agent, MAX_USER_AGENT_CHARS))


NO_CLIENT = Client()


@dataclass(frozen=True)
class _Pending:
    at: datetime
    client: Client


class LastSignIns:
    def __init__(
        self,
        database: Database,
        *,
        interval_seconds: float = 60.0,
        flush_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._db = database
        self._interval = interval_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._queued: dict[tuple[str, str], tuple[float, Client]] = {}
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._flusher = PeriodicFlush(self.flush, flush_seconds, "last-signin-flush")
        self.writes = 0  # rows written by this process (tests and metrics read it)

    def record(self, username: str, path: str, client: Client = NO_CLIENT) -> None:
        """Note a successful sign-in of ``username`` on ``path`` (a key of PATHS). Memory only;
        never raises, never waits on the database."""
        key = (username, path)
        now = self._clock()
        with self._lock:
            seen = self._queued.get(key)
            if seen is not None and now - seen[0] < self._interval and seen[1] == client:
                return
            if len(self._queued) >= MAX_TRACKED:
                self._queued.clear()
            self._queued[key] = (now, client)
            self._pending[key] = _Pending(utcnow(), client)
        self._flusher.ensure_running()

    def flush(self) -> int:
        """Write what is queued (one upsert per user and path); how many rows were written."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            with self._db.engine.begin() as connection:
                for (username, path), row in pending.items():
                    values = {
                        "at": row.at,
                        "client_address": row.client.address,
                        "user_agent": row.client.user_agent,
                    }
                    where = (_TABLE.c.username == username) & (_TABLE.c.path == path)
                    if connection.execute(update(_TABLE).where(where).values(values)).rowcount == 0:
                        try:
                            with connection.begin_nested():
                                connection.execute(
                                    insert(_TABLE).values(username=username, path=path, **values)
                                )
                        except IntegrityError:  # another process inserted it a moment ago
                            connection.execute(update(_TABLE).where(where).values(values))
        except SQLAlchemyError as error:
            log.warning("last sign-in write failed (%s); %d dropped", type(error).__name__, len(pending))
            return 0
        self.writes += len(pending)
        return len(pending)

    def stop(self) -> None:
        """Write what is queued, then stop this process's flush thread."""
        self._flusher.stop()
        self.flush()


def _bounded(value: str | None, limit: int) -> str | None:
    if not value:
        return None
    cleaned = "".join(ch for ch in value if ch.isprintable())[:limit].strip()
    return cleaned or None
