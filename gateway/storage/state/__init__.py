"""Short-lived shared state: throttle counters, single-use marks of SSO callbacks, caches.

What lives here may be lost (a Redis restart) without losing anything that matters; durable
state (users, sessions, revocations, keys, audit) lives in the database.
"""

from pathlib import Path

from gateway.storage.state.base import StateStore, StoreUnavailable
from gateway.storage.state.memory import MemoryStore
from gateway.storage.state.redis import RedisStore
from gateway.storage.state.sqlite import SqliteStore


def open_store(redis_url: str | None, local_path: Path | None = None, *, timeout: float = 0.5) -> StateStore:
    """Redis when a URL is given (shared by every replica); else a SQLite file at
    ``local_path``, shared by the worker processes of this machine; else (tests) in-process."""
    if redis_url:
        return RedisStore.from_url(redis_url, timeout=timeout)
    if local_path is not None:
        local_path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteStore(local_path)
    return MemoryStore()


__all__ = ["StateStore", "StoreUnavailable", "MemoryStore", "RedisStore", "SqliteStore", "open_store"]
