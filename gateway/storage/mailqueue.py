"""The ``mail_queue`` table (e-mail the gateway means to send) and ``self_service_tokens``
(single-use links: password reset, address verification).

A mail row is written in the same transaction as the change that causes it
(:func:`gateway.mail.queue.enqueue`), so a rolled-back change sends nothing. The deliverer
(:mod:`gateway.mail.deliverer`) leases rows so that one replica sends each, deletes a row once
the SMTP server accepted it, retries with backoff, and marks it ``failed`` after the last
attempt. The bodies are encrypted at rest (they may hold a single-use link) and cleared when a
row fails for good.

A self-service token is stored only as the SHA-256 of its random value (256 bits: a slow hash
would add nothing); using it sets ``used_at`` in one conditional UPDATE, so it works once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from providers.sql import Base, UTCDateTime, utcnow

PENDING = "pending"
FAILED = "failed"


class MailMessage(Base):
    """One e-mail to one recipient."""

    __tablename__ = "mail_queue"
    __table_args__ = (Index("ix_mail_queue_state", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    recipient: Mapped[str] = mapped_column(String(320), nullable=False)
    subject: Mapped[str] = mapped_column(String(300), nullable=False)
    # The text and HTML bodies, JSON-encoded together and encrypted (gateway.mail.queue).
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SelfServiceToken(Base):
    """A single-use link's token, by the SHA-256 of its value."""

    __tablename__ = "self_service_tokens"
    __table_args__ = (Index("ix_self_service_tokens_username", "username", "purpose"),)

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    username: Mapped[str] = mapped_column(String(127), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
