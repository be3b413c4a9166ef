"""Per-account login throttling with exponential backoff.

The Registry is the only client the gateway sees, so throttling by IP would lock everyone out
at once; it is by account. Unknown usernames are throttled exactly like known ones, so the
throttle itself tells nothing about who exists.

Two guarantees, whatever the number of workers and replicas sharing the store:

* **Exact bound on verifications.** A password is checked only under a *reservation* taken in
  one atomic step of the store (a Lua script on Redis, one lock in process). An account with
  ``f`` recent failures admits at most ``max(1, free_failures + 1 - f)`` verifications at a
  time; further attempts wait (briefly) for those to finish, then see the lock-out the failures
  started. So 200 parallel wrong passwords cost exactly ``free_failures + 1`` verifications.
* **Sliding memory.** Every failure extends the memory of the account's failures by
  ``window_seconds``; the count is forgotten only after a whole quiet window. With the
  defaults (5 free failures, 1 s doubling to 900 s, a 3600 s window) a continuing attack gets
  at most 19 guesses in its first hour and 4 an hour after that.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from gateway.observe.metrics import count_throttle
from gateway.storage.state import StateStore, StoreUnavailable
from gateway.storage.state.base import AttemptOutcome, ThrottleLimits, throttle_keys
from gateway.storage.state.memory import MemoryStore

T = TypeVar("T")

log = logging.getLogger(__name__)

# A reservation left behind by a killed worker frees itself after this long (more than
# gunicorn's 30 s worker timeout, so a live slow login never loses its reservation).
RESERVATION_SECONDS = 45.0
# How long an attempt waits for the account's in-flight verifications before giving up.
RESERVATION_WAIT_SECONDS = 10.0
_POLL_SECONDS = (0.005, 0.01, 0.02, 0.05)


class Throttled(Exception):
    """Too many recent failures for this account; try again in ``wait_seconds``."""

    def __init__(self, wait_seconds: float):
        super().__init__(f"throttled for {wait_seconds:.1f} s")
        self.wait_seconds = wait_seconds


@dataclass(frozen=True)
class ThrottleSettings:
    free_failures: int = 5
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 900.0
    # Failures are forgotten after this long without a new one.
    window_seconds: float = 3600.0

    def limits(self) -> ThrottleLimits:
        return ThrottleLimits(
            self.free_failures, self.base_delay_seconds, self.max_delay_seconds, self.window_seconds
        )


class Attempt:
    """One reserved verification for an account; settle it exactly once.

    Used as a context manager: leaving the block without settling (an exception such as a
    provider outage) releases the reservation without counting anything.
    """

    def __init__(self, throttle: AccountThrottle, username: str, token: str):
        self._throttle = throttle
        self._username = username
        self._token = token
        self._settled = False

    def failed(self) -> float:
        """Count a failed verification; return the lock-out it starts (0 while attempts are free)."""
        return self._settle(AttemptOutcome.FAILURE)

    def succeeded(self) -> None:
        """The password was right: forget the account's failures."""
        self._settle(AttemptOutcome.SUCCESS)

    def release(self) -> None:
        """Neither right nor wrong (e.g. the provider was unreachable): count nothing."""
        self._settle(AttemptOutcome.NEUTRAL)

    def _settle(self, outcome: AttemptOutcome) -> float:
        if self._settled:
            return 0.0
        self._settled = True
        return self._throttle._finish(self._username, self._token, outcome)

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


class AccountThrottle:
    """Counts failed logins per account and says how long the account must wait.

    If the shared store (Redis) is unreachable, the throttle counts in this process instead
    (and logs it, and counts a ``store_unavailable`` event): logins go on, and guessing stays
    throttled, at most as many times looser as there are worker processes. An auth outage
    would be worse than a looser count; no throttle at all would be worse than both.
    """

    def __init__(
        self,
        store: StateStore,
        settings: ThrottleSettings,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        wait_limit_seconds: float = RESERVATION_WAIT_SECONDS,
    ):
        self._store = store
        # Bounded: spraying distinct names while Redis is down cannot grow it without limit.
        self._fallback = MemoryStore(max_entries=50_000)
        self._settings = settings
        self._limits = settings.limits()
        self._clock = clock
        self._sleep = sleep
        self._wait_limit = wait_limit_seconds
        self._none_failed: dict[str, int] = {}  # username -> failure epoch it had none at

    def attempt(self, username: str) -> Attempt:
        """Reserve one verification for ``username``, waiting (bounded) while the account's
        allowance is taken by verifications still in flight. Raises Throttled while the account
        is locked out, or when the wait ran out."""
        token = secrets.token_hex(8)
        waited, polls = 0.0, 0
        while True:
            result = self._with_store(
                lambda store: store.begin_attempt(
                    username, token, self._clock(), self._limits, RESERVATION_SECONDS
                )
            )
            if result == 0.0:
                return Attempt(self, username, token)
            if result > 0:
                count_throttle("refused")
                raise Throttled(result)
            if waited >= self._wait_limit:
                count_throttle("refused")
                raise Throttled(1.0)
            pause = _POLL_SECONDS[min(polls, len(_POLL_SECONDS) - 1)]
            self._sleep(pause)
            waited, polls = waited + pause, polls + 1

    def wait_seconds(self, username: str) -> float:
        """Seconds until ``username`` may try again; 0 when it may try now."""
        until = self._with_store(lambda store: store.get(f"throttle:until:{username}"))
        if until is None:
            return 0.0
        wait = max(0.0, float(until) - self._clock())
        if wait > 0:
            count_throttle("refused")
        return wait

    def has_failures(self, username: str) -> bool:
        """Whether ``username`` has failures on record (a lock-out implies some).

        On a store with a failure signal (the embedded one), a "no" is remembered until the
        next failure counted anywhere on the machine, so the hot path asks the store only after
        something failed."""
        epoch_of = getattr(self._store, "failure_epoch", None)
        epoch = epoch_of() if epoch_of is not None else None
        if epoch is not None and self._none_failed.get(username) == epoch:
            return False
        failures_key = throttle_keys(username)[1]
        failed = self._with_store(lambda store: store.get(failures_key)) is not None
        if not failed and epoch is not None:
            if len(self._none_failed) >= 10_000:
                self._none_failed.clear()
            self._none_failed[username] = epoch  # the epoch read before the store was asked
        return failed

    def record_failure(self, username: str) -> float:
        """Count a failed attempt made without a reservation; return the lock-out it starts."""
        return self._finish(username, None, AttemptOutcome.FAILURE)

    def record_success(self, username: str) -> None:
        self._finish(username, None, AttemptOutcome.SUCCESS)

    def _finish(self, username: str, token: str | None, outcome: AttemptOutcome) -> float:
        delay = self._with_store(
            lambda store: store.end_attempt(username, token, self._clock(), self._limits, outcome)
        )
        if outcome is AttemptOutcome.FAILURE:
            count_throttle("failure_counted")
            if delay > 0:
                count_throttle("lockout_started")
        return delay

    def _with_store(self, operation: Callable[[StateStore], T]) -> T:
        try:
            return operation(self._store)
        except StoreUnavailable as error:
            log.warning("throttle store unavailable, counting in this process: %s", error)
            count_throttle("store_unavailable")
            return operation(self._fallback)
