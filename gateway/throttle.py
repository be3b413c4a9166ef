"""Per-account login throttling with exponential backoff.

The Registry is the only client the gateway sees, so throttling by IP would lock everyone out
at once; it is by account. Unknown usernames are throttled exactly like known ones, so the
throttle itself tells nothing about who exists.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, TypeVar

from gateway.metrics import count_throttle
from gateway.state import StateStore, StoreUnavailable
from gateway.state.memory import MemoryStore

T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ThrottleSettings:
    free_failures: int = 5
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 900.0
    # Failures older than this are forgotten.
    window_seconds: float = 3600.0


class AccountThrottle:
    """Counts failed logins per account and says how long the account must wait.

    If the shared store (Redis) is unreachable, the throttle counts in this process instead
    (and logs it, and counts a ``store_unavailable`` event): logins go on, and guessing stays
    throttled, at most as many times looser as there are worker processes. An auth outage
    would be worse than a looser count; no throttle at all would be worse than both.
    """

    def __init__(self, store: StateStore, settings: ThrottleSettings, clock=time.time):
        self._store = store
        # Bounded: spraying distinct names while Redis is down cannot grow it without limit.
        self._fallback = MemoryStore(max_entries=50_000)
        self._settings = settings
        self._clock = clock

    def wait_seconds(self, username: str) -> float:
        """Seconds until ``username`` may try again; 0 when it may try now."""
        until = self._with_store(lambda store: store.get(f"throttle:until:{username}"))
        if until is None:
            return 0.0
        wait = max(0.0, float(until) - self._clock())
        if wait > 0:
            count_throttle("refused")
        return wait

    def record_failure(self, username: str) -> float:
        """Count a failed attempt; return the lock-out it starts (0 while attempts are free)."""
        return self._with_store(lambda store: self._count_failure(store, username))

    def record_success(self, username: str) -> None:
        self._with_store(lambda store: store.delete(
            f"throttle:failures:{username}", f"throttle:until:{username}"))

    def _count_failure(self, store: StateStore, username: str) -> float:
        settings = self._settings
        failures = store.incr(f"throttle:failures:{username}", settings.window_seconds)
        count_throttle("failure_counted")
        excess = failures - settings.free_failures
        if excess <= 0:
            return 0.0
        delay = min(settings.max_delay_seconds, settings.base_delay_seconds * 2 ** min(excess - 1, 40))
        store.set(f"throttle:until:{username}", repr(self._clock() + delay), delay)
        count_throttle("lockout_started")
        return delay

    def _with_store(self, operation: Callable[[StateStore], T]) -> T:
        try:
            return operation(self._store)
        except StoreUnavailable as error:
            log.warning("throttle store unavailable, counting in this process: %s", error)
            count_throttle("store_unavailable")
            return operation(self._fallback)
