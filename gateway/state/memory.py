"""In-process state for a single-process deployment (the embedded default) and tests."""

from __future__ import annotations

import threading
import time


class MemoryStore:
    """A dict with expiry and a lock. Not shared between processes."""

    SWEEP_AT = 10000

    def __init__(self, clock=time.monotonic, max_entries: int | None = None):
        self._clock = clock
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._data: dict[str, tuple[str, float]] = {}
        self._sweep_above = self.SWEEP_AT

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._live(key)

    def set(self, key: str, value: str, ttl: float) -> None:
        with self._lock:
            self._data[key] = (value, self._clock() + ttl)
            self._sweep()

    def add(self, key: str, value: str, ttl: float) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._data[key] = (value, self._clock() + ttl)
            return True

    def incr(self, key: str, ttl: float) -> int:
        with self._lock:
            current = self._live(key)
            if current is None:
                self._data[key] = ("1", self._clock() + ttl)
                self._sweep()
                return 1
            value = int(current) + 1
            self._data[key] = (str(value), self._data[key][1])
            return value

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def ping(self) -> None:
        return None

    def _live(self, key: str) -> str | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry[1] <= self._clock():
            del self._data[key]
            return None
        return entry[0]

    def _sweep(self) -> None:
        # Bound memory: drop expired entries whenever the table has doubled since the last
        # sweep, so each insert pays amortised O(1) even when most entries are still live.
        if len(self._data) > self._sweep_above:
            now = self._clock()
            for key in [k for k, (_, expiry) in self._data.items() if expiry <= now]:
                del self._data[key]
            self._sweep_above = max(self.SWEEP_AT, 2 * len(self._data))
            if self._max_entries is not None and len(self._data) > self._max_entries:
                # Still too many live entries: forget the oldest tenth beyond the cap at once,
                # so eviction too stays amortised O(1).
                keep = int(self._max_entries * 0.9)
                for key in list(self._data)[:len(self._data) - keep]:
                    del self._data[key]
                self._sweep_above = self._max_entries
