"""The small interface both state stores implement."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class StoreUnavailable(Exception):
    """The store could not be reached within its timeout."""


class AttemptOutcome(enum.Enum):
    """How a reserved login attempt ended (see :mod:`gateway.login.throttle`)."""

    SUCCESS = "s"  # forget the account's failures
    FAILURE = "f"  # count one failure, lock the account out past the free ones
    NEUTRAL = "n"  # count nothing (e.g. the provider could not decide)


@dataclass(frozen=True)
class ThrottleLimits:
    """The throttle's numbers, as the stores need them for their atomic steps."""

    free_failures: int
    base_delay_seconds: float
    max_delay_seconds: float
    window_seconds: float

    def capacity(self, failures: int) -> int:
        """Verifications an account with ``failures`` recent failures may have in flight:
        as many as could fail before the lock-out, and at least one once a lock-out ended."""
        return max(1, self.free_failures + 1 - failures)

    def delay_after(self, failures: int) -> float:
        """The lock-out the ``failures``-th failure starts (0 while failures are free)."""
        excess = failures - self.free_failures
        if excess <= 0:
            return 0.0
        return min(self.max_delay_seconds, self.base_delay_seconds * 2 ** min(excess - 1, 40))


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

    def begin_attempt(
        self, account: str, token: str, now: float, limits: ThrottleLimits, hold_seconds: float
    ) -> float:
        """In one atomic step: the account's remaining lock-out (> 0) if it is locked out; else
        -1 if its in-flight reservations already fill ``limits.capacity``; else reserve
        ``token`` for at most ``hold_seconds`` and return 0. ``now`` is wall-clock time."""

    def end_attempt(
        self, account: str, token: str | None, now: float, limits: ThrottleLimits, outcome: AttemptOutcome
    ) -> float:
        """In one atomic step: drop reservation ``token`` (if any) and apply ``outcome``. A
        failure extends the memory of the account's failures to ``limits.window_seconds``
        from now and returns the lock-out it starts (0 while failures are free)."""


class FailureSignal(Protocol):
    """What a store of one machine can offer: a number that changes after every failure it
    counts, so that "no new failures anywhere" costs a memory read (see AccountThrottle)."""

    def failure_epoch(self) -> int | None: ...


def throttle_keys(account: str) -> tuple[str, str, str]:
    """The keys of one account's throttle state: lock-out end, failure count, reservations."""
    return (f"throttle:until:{account}", f"throttle:failures:{account}", f"throttle:pending:{account}")
