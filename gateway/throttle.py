"""Per-account login throttling with exponential backoff.

The Registry is the only client the gateway sees, so throttling by IP would lock everyone out
at once; it is by account. Unknown usernames are throttled exactly like known ones, so the
throttle itself tells nothing about who exists.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from gateway.metrics import count_throttle
from gateway.state import StateStore, StoreUnavailable

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

    If the store is unreachable the throttle steps aside (logins go on, unthrottled) and logs
    it: the store holds only what may be lost, and an auth outage is worse than a missed count.
    """

    def __init__(self, store: StateStore, settings: ThrottleSettings, clock=time.time):
        self._store = store
        self._settings = settings
        self._clock = clock

    def wait_seconds(self, username: str) -> float:
        """Seconds until ``username`` may try again; 0 when it may try now."""
        try:
            until = self._store.get(f"throttle:until:{username}")
        except StoreUnavailable as error:
            log.warning("throttle store unavailable, not throttling: %s", error)
            count_throttle("store_unavailable")
            return 0.0
        if until is None:
            return 0.0
        wait = max(0.0, float(until) - self._clock())
        if wait > 0:
            count_throttle("refused")
        return wait

    def record_failure(self, username: str) -> float:
        """Count a failed attempt; return the lock-out it starts (0 while attempts are free)."""
        settings = self._settings
        try:
            failures = self._store.incr(f"throttle:failures:{username}", settings.window_seconds)
            count_throttle("failure_counted")
            excess = failures - settings.free_failures
            if excess <= 0:
                return 0.0
            delay = min(settings.max_delay_seconds, settings.base_delay_seconds * 2 ** min(excess - 1, 40))
            self._store.set(f"throttle:until:{username}", repr(self._clock() + delay), delay)
            count_throttle("lockout_started")
            return delay
        except StoreUnavailable as error:
            log.warning("throttle store unavailable, failure not counted: %s", error)
            count_throttle("store_unavailable")
            return 0.0

    def record_success(self, username: str) -> None:
        try:
            self._store.delete(f"throttle:failures:{username}", f"throttle:until:{username}")
        except StoreUnavailable as error:
            log.warning("throttle store unavailable, counters not reset: %s", error)
            count_throttle("store_unavailable")
