"""What the work-queue tables (the mail queue, the Registry outbox) have in common.

Both hold rows with ``state``, ``attempts``, ``next_attempt_at``, ``last_error``,
``created_at``, ``claimed_by`` and ``claimed_until`` columns; a row waiting for delivery is in
state ``"pending"``. Here: which rows are free to claim, how long to wait after a failure, and
the figures an operator reads about a queue.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Table, and_, func, or_, select
from sqlalchemy.orm import Session

PENDING = "pending"


class Backoff:
    """Exponential backoff with jitter: after the n-th failure, a delay drawn between half and
    all of ``min(cap, base * 2**(n-1))`` seconds, so replicas retrying together spread out."""

    def __init__(self, base: float = 5.0, cap: float = 600.0, rng: random.Random | None = None):
        self.base = base
        self.cap = cap
        self._rng = rng or random.Random()

    def delay(self, failures: int) -> float:
        ceiling = min(self.cap, self.base * 2 ** min(max(failures - 1, 0), 32))
        return self._rng.uniform(ceiling / 2, ceiling)


def free_and_due(table: Table, now: datetime) -> ColumnElement[bool]:
    """The condition of a pending row that nobody holds and whose time has come."""
    return and_(
        table.c.state == PENDING,
        table.c.next_attempt_at <= now,
        or_(table.c.claimed_until.is_(None), table.c.claimed_until < now),
    )


@dataclass(frozen=True)
class QueueCounts:
    """Rows by state, pending rows that failed before, the age of the oldest pending row (None
    when none waits) and the error of the most recently retried row."""

    by_state: dict[str, int]
    retrying: int
    oldest_pending_age_seconds: float | None
    last_error: str | None


def queue_counts(
    session: Session, table: Table, now: datetime, *, last_error_where: ColumnElement[bool]
) -> QueueCounts:
    """:class:`QueueCounts` of ``table``; ``last_error_where`` picks the rows whose latest
    error is reported (the one due next-latest among them)."""
    by_state = select(table.c.state, func.count()).group_by(table.c.state)
    counts: dict[str, int] = {state: count for state, count in session.execute(by_state)}
    retrying = session.scalar(select(func.count()).where(table.c.state == PENDING, table.c.attempts > 0))
    oldest = session.scalar(select(func.min(table.c.created_at)).where(table.c.state == PENDING))
    last_error = session.scalar(
        select(table.c.last_error).where(last_error_where).order_by(table.c.next_attempt_at.desc()).limit(1)
    )
    return QueueCounts(
        by_state=counts,
        retrying=retrying or 0,
        oldest_pending_age_seconds=None if oldest is None else max(0.0, (now - oldest).total_seconds()),
        last_error=last_error,
    )
