"""The durable outbox of Registry writes: record an intent with the change, report on them.

The gateway keeps the Registry in step between logins by writing to the Registry's admin API
(registry-contract.md §2.6). Those writes must survive a Registry outage and a gateway
restart, and must never be made for a change that was rolled back: so a change records its
intended write as a row of ``registry_outbox`` **in the change's own transaction**
(:func:`enqueue`), and :class:`gateway.registry.outboxdelivery.Deliverer` sends the rows
later, in order per user, once across replicas.

Only the latest state of a user matters to the Registry, so a new intent replaces that user's
pending intents of the same kind that no deliverer has claimed yet (coalescing): a user
disabled and re-enabled during an outage gets one write, not two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from gateway.registry.outboxwriter import KINDS
from gateway.storage.background import CommitSignal
from gateway.storage.outbox import DROPPED, FAILED, PENDING, RegistryOutboxEntry
from gateway.storage.workqueue import queue_counts

TABLE = cast(Table, RegistryOutboxEntry.__table__)
FAILED_ROWS_SHOWN = 50
# Set when a transaction that recorded an intent commits in this process (deliverers wait on it).
COMMITTED = CommitSignal("registry_outbox_enqueued")
register_waiter = COMMITTED.register
unregister_waiter = COMMITTED.unregister


def enqueue(session: Session, username: str, kind: str, payload: dict[str, Any]) -> None:
    """Record that ``username``'s Registry account should get the write ``kind`` with
    ``payload``, as part of ``session``'s transaction (it commits or rolls back with it).

    Pending, not yet claimed intents of the same user and kind are replaced: the new row goes
    to the back of the user's queue. ``payload`` must be JSON and must not hold a secret (an
    operator sees it). Call this after the change's own writes to the user, so that concurrent
    changes of one user (which those writes serialise) get ids in commit order. Deliverers of
    this process are woken when the transaction commits.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown Registry write kind {kind!r}")
    if not isinstance(payload, dict):
        raise TypeError("the payload of a Registry write is a JSON object")
    session.execute(
        delete(TABLE).where(
            TABLE.c.username == username,
            TABLE.c.kind == kind,
            TABLE.c.state == PENDING,
            TABLE.c.claimed_by.is_(None),
        )
    )
    now = datetime.now(UTC)
    session.add(
        RegistryOutboxEntry(
            username=username,
            kind=kind,
            payload=payload,
            state=PENDING,
            created_at=now,
            attempts=0,
            next_attempt_at=now,
        )
    )
    COMMITTED.on_commit(session)


@dataclass(frozen=True)
class FailedWrite:
    """A write the Registry refused for good, or dropped because it does not know the user."""

    id: int
    username: str
    kind: str
    state: str
    attempts: int
    error: str | None
    created_at: datetime


@dataclass(frozen=True)
class OutboxStatus:
    """What an operator (admin UI/API, /readyz, metrics) needs to know about the outbox."""

    pending: int
    retrying: int
    failed: int
    dropped: int
    oldest_pending_age_seconds: float | None
    last_retry_error: str | None
    failed_writes: list[FailedWrite] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "retrying": self.retrying,
            "failed": self.failed,
            "dropped": self.dropped,
            "oldestPendingAgeSeconds": self.oldest_pending_age_seconds,
            "lastRetryError": self.last_retry_error,
            "failedWrites": [
                {
                    "id": write.id,
                    "username": write.username,
                    "kind": write.kind,
                    "state": write.state,
                    "attempts": write.attempts,
                    "error": write.error,
                    "createdAt": write.created_at.isoformat(),
                }
                for write in self.failed_writes
            ],
        }


def status(session: Session, now: datetime | None = None) -> OutboxStatus:
    """Counts by state, the age of the oldest pending write, the error of the most recently
    retried one, and the newest failed or dropped writes (at most FAILED_ROWS_SHOWN)."""
    now = now or datetime.now(UTC)
    counts = queue_counts(
        session, TABLE, now, last_error_where=(TABLE.c.state == PENDING) & (TABLE.c.attempts > 0)
    )
    failed_rows = session.scalars(
        select(RegistryOutboxEntry)
        .where(RegistryOutboxEntry.state.in_((FAILED, DROPPED)))
        .order_by(RegistryOutboxEntry.id.desc())
        .limit(FAILED_ROWS_SHOWN)
    ).all()
    return OutboxStatus(
        pending=counts.by_state.get(PENDING, 0),
        retrying=counts.retrying,
        failed=counts.by_state.get(FAILED, 0),
        dropped=counts.by_state.get(DROPPED, 0),
        oldest_pending_age_seconds=counts.oldest_pending_age_seconds,
        last_retry_error=counts.last_error,
        failed_writes=[
            FailedWrite(
                id=row.id,
                username=row.username,
                kind=row.kind,
                state=row.state,
                attempts=row.attempts,
                error=row.last_error,
                created_at=row.created_at,
            )
            for row in failed_rows
        ],
    )
