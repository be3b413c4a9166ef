"""A per-process read cache that is exact: any committed write anywhere empties it.

SQLite increments ``PRAGMA data_version`` on a connection whenever another connection (in this
process or another, e.g. a CLI command) commits to the database file. Checking it costs ~4 us,
a tenth of a query, so hot reads can be served from memory without ever serving stale data.
On other databases the cache is off and every read goes to the database.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from sqlalchemy.engine import Engine

V = TypeVar("V")


class CommitWatch:
    """Tells whether anything was committed to a SQLite database since this thread last asked."""

    def __init__(self, database_path: str):
        self._path = database_path
        self._local = threading.local()

    def changed(self) -> bool:
        local = self._local
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = sqlite3.connect(self._path, check_same_thread=True)
            local.version = None
        version = connection.execute("PRAGMA data_version").fetchone()[0]
        changed = version != local.version
        local.version = version
        return changed


class ExactReadCache(Generic[V]):
    """Caches values loaded from the database until the next commit by anyone.

    A generation number guards the race in which a value read before a commit would be stored
    after the cache was emptied for that commit.
    """

    def __init__(self, watch: CommitWatch, max_entries: int = 10000):
        self._watch = watch
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: dict[Hashable, V] = {}
        self._generation = 0

    def get(self, key: Hashable, load: Callable[[], V | None]) -> V | None:
        """The cached value for ``key``, or ``load()``'s (cached when not None)."""
        if self._watch.changed():
            with self._lock:
                self._entries.clear()
                self._generation += 1
        found = self._entries.get(key)
        if found is not None:
            return found
        generation = self._generation
        value = load()
        if value is not None:
            with self._lock:
                if generation == self._generation:
                    if len(self._entries) >= self._max_entries:
                        self._entries.clear()
                    self._entries[key] = value
        return value


def commit_watch_for(engine: Engine) -> CommitWatch | None:
    """A commit signal for a file-backed SQLite engine; None for any other database."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return CommitWatch(url.database)


def exact_cache_for(engine: Engine) -> ExactReadCache | None:
    """An exact read cache for a file-backed SQLite engine; None for any other database."""
    watch = commit_watch_for(engine)
    return ExactReadCache(watch) if watch is not None else None
