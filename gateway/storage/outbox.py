"""The ``registry_outbox`` table: Registry writes the gateway intends to make, one row each.

A row is written in the same transaction as the change it follows from (see
:func:`gateway.registry.outbox.enqueue`), so the change and the intent to tell the Registry
commit or vanish together. :mod:`gateway.registry.outboxdelivery` delivers the rows.

States: ``pending`` (waiting, in backoff, or claimed by a deliverer), ``failed`` (the Registry
refused it for good; kept with its error for an operator), ``dropped`` (the Registry does not
know the user; kept with the reason). A delivered row is deleted rather than marked done: it
has nothing left to say (the audit log records the change itself), and keeping only open rows
keeps the per-user "is there an earlier pending row" check and the table small.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from providers.sql import Base, UTCDateTime, utcnow

PENDING = "pending"
FAILED = "failed"
DROPPED = "dropped"
STATES = (PENDING, FAILED, DROPPED)


class RegistryOutboxEntry(Base):
    """One intended Registry write for one Registry user."""

    __tablename__ = "registry_outbox"
    __table_args__ = (
        # The claim looks for the earliest pending row of each user, and coalescing for a
        # user's pending rows of one kind.
        Index("ix_registry_outbox_username", "username", "state", "id"),
        Index("ix_registry_outbox_state", "state", "next_attempt_at"),
    )

    # Delivery order within one user is the order of ids.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(127), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    # What the write needs, never a secret (it is what a login would answer, or less).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # The Registry's error text (failed), the reason (dropped), or the last retryable error.
    last_error: Mapped[str | None] = mapped_column(Text)
    # The lease: which deliverer's claim round holds the row, and until when. A claim whose
    # time has passed is free again, so a dead process's rows are retaken.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
