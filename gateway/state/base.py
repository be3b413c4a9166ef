"""The small interface both state stores implement."""

from __future__ import annotations

from typing import Protocol


class StoreUnavailable(Exception):
    """The store could not be reached within its timeout."""


class StateStore(Protocol):
    """Keys with time-to-live. Every method raises StoreUnavailable instead of hanging."""

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, ttl: float) -> None: ...

    def add(self, key: str, value: str, ttl: float) -> bool:
        """Set only if absent; True when this call set it."""

    def incr(self, key: str, ttl: float) -> int:
        """Increment a counter, creating it with ``ttl`` if absent; return the new value."""

    def delete(self, *keys: str) -> None: ...

    def ping(self) -> None: ...
