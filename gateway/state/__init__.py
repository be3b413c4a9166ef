"""Short-lived shared state: throttle counters, single-use marks of SSO callbacks, caches.

What lives here may be lost (a Redis restart) without losing anything that matters; durable
state (users, sessions, revocations, keys, audit) lives in the database.
"""

from gateway.state.base import StateStore, StoreUnavailable
from gateway.state.memory import MemoryStore
from gateway.state.redis import RedisStore


def open_store(redis_url: str | None, *, timeout: float = 0.5) -> StateStore:
    """Redis when a URL is given, else an in-process store for a single-process deployment."""
    return RedisStore.from_url(redis_url, timeout=timeout) if redis_url else MemoryStore()


__all__ = ["StateStore", "StoreUnavailable", "MemoryStore", "RedisStore", "open_store"]
