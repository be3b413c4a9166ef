"""In-process state for a single-process deployment (the embedded default) and tests."""

from __future__ import annotations

import threading
import time

from gateway.storage.state.base import AttemptOutcome, ThrottleLimits, throttle_keys


class MemoryStore:
    """A dict with expiry and a lock. Not shared between processes."""

    SWEEP_AT = 10000

    def __init__(self, clock=time.monotonic, max_entries: int | None = None):
        self._clock = clock
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._data: dict[str, tuple[str, float]] = {}
        self._sweep_above = self.SWEEP_AT
        # account -> {reservation token: expiry}; entries leave when their attempt ends.
        self._reservations: dict[str, dict[str, float]] = {}

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

    def begin_attempt(
        self, account: str, token: str, now: float, limits: ThrottleLimits, hold_seconds: float
    ) -> float:
        until_key, failures_key, _ = throttle_keys(account)
        with self._lock:
            until = self._live(until_key)
            if until is not None and float(until) > now:
                return float(until) - now
            held = self._live_reservations(account)
            if len(held) >= limits.capacity(int(self._live(failures_key) or 0)):
                return -1.0
            held[token] = self._clock() + hold_seconds
            self._reservations[account] = held
            return 0.0

    def end_attempt(
        self, account: str, token: str | None, now: float, limits: ThrottleLimits, outcome: AttemptOutcome
    ) -> float:
        until_key, failures_key, _ = throttle_keys(account)
        with self._lock:
            held = self._reservations.get(account)
            if held is not None and token is not None:
                held.pop(token, None)
                if not held:
                    del self._reservations[account]
            if outcome is AttemptOutcome.SUCCESS:
                self._data.pop(until_key, None)
                self._data.pop(failures_key, None)
                return 0.0
            if outcome is not AttemptOutcome.FAILURE:
                return 0.0
            failures = int(self._live(failures_key) or 0) + 1
            # Sliding: every failure restarts the window.
            self._data[failures_key] = (str(failures), self._clock() + limits.window_seconds)
            delay = limits.delay_after(failures)
            if delay > 0:
                self._data[until_key] = (repr(now + delay), self._clock() + delay)
            self._sweep()
            return delay

    def _live_reservations(self, account: str) -> dict[str, float]:
        now = self._clock()
        held = self._reservations.get(account, {})
        return {token: expiry for token, expiry in held.items() if expiry > now}

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
                for key in list(self._data)[: len(self._data) - keep]:
                    del self._data[key]
                self._sweep_above = self._max_entries
