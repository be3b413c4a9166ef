"""The mail queue: record a message with the change that causes it, read what is waiting.

:meth:`MailQueue.enqueue` adds a row to ``session``'s transaction, so a change that rolls back
sends nothing, and a request never waits on the SMTP server. The bodies are encrypted at rest
under a key derived from GATEWAY_KEY_ENCRYPTION_KEY: a reset link in a waiting message must not
be readable from a database dump.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from gateway.mail.messages import Rendered
from gateway.storage.background import CommitSignal
from gateway.storage.db import Database
from gateway.storage.mailqueue import FAILED, PENDING, MailMessage
from gateway.storage.workqueue import queue_counts
from gateway.tokens.sealing import derive_key

HKDF_INFO = b"dronedb-auth-gateway mail bodies v1"
FAILED_ROWS_SHOWN = 50
TABLE = cast(Table, MailMessage.__table__)
# Set when a transaction that queued a message commits in this process (deliverers wait on it).
COMMITTED = CommitSignal("mail_enqueued")
register_waiter = COMMITTED.register
unregister_waiter = COMMITTED.unregister


class BodyCipher:
    """Fernet under a key of its own, derived from the key-encryption secret."""

    def __init__(self, secret: str):
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret, HKDF_INFO)))

    def seal(self, rendered: Rendered) -> bytes:
        return self._fernet.encrypt(json.dumps({"text": rendered.text, "html": rendered.html}).encode())

    def open(self, sealed: bytes) -> tuple[str, str]:
        """(text, html); ValueError when the body was sealed under another secret."""
        try:
            data = json.loads(self._fernet.decrypt(bytes(sealed)))
        except (InvalidToken, TypeError, ValueError):
            raise ValueError(
                "the message body cannot be decrypted with this GATEWAY_KEY_ENCRYPTION_KEY"
            ) from None
        return data["text"], data["html"]


@dataclass(frozen=True)
class FailedMail:
    id: int
    kind: str
    recipient: str
    attempts: int
    error: str | None
    created_at: datetime


@dataclass(frozen=True)
class MailStatus:
    """What an operator needs to know about the queue (admin UI/API, metrics)."""

    pending: int
    retrying: int
    failed: int
    oldest_pending_age_seconds: float | None
    last_error: str | None
    failed_mails: list[FailedMail] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "retrying": self.retrying,
            "failed": self.failed,
            "oldestPendingAgeSeconds": self.oldest_pending_age_seconds,
            "lastError": self.last_error,
            "failedMails": [
                {
                    "id": mail.id,
                    "kind": mail.kind,
                    "recipient": mail.recipient,
                    "attempts": mail.attempts,
                    "error": mail.error,
                    "createdAt": mail.created_at.isoformat(),
                }
                for mail in self.failed_mails
            ],
        }


class MailQueue:
    """Queue messages in a caller's transaction; report on the queue."""

    def __init__(self, database: Database, cipher: BodyCipher):
        self._database = database
        self.cipher = cipher

    def enqueue(self, session: Session, kind: str, recipient: str, rendered: Rendered) -> None:
        """Add the message to ``session``'s transaction; this process's deliverer is woken
        when it commits."""
        now = datetime.now(UTC)
        session.add(
            MailMessage(
                kind=kind,
                recipient=recipient,
                subject=rendered.subject,
                body=self.cipher.seal(rendered),
                state=PENDING,
                created_at=now,
                attempts=0,
                next_attempt_at=now,
            )
        )
        COMMITTED.on_commit(session)

    def status(self, now: datetime | None = None) -> MailStatus:
        now = now or datetime.now(UTC)
        table = MailMessage
        with self._database.session() as session:
            counts = queue_counts(
                session, TABLE, now, last_error_where=(table.attempts > 0) & table.last_error.is_not(None)
            )
            failed = session.scalars(
                select(table).where(table.state == FAILED).order_by(table.id.desc()).limit(FAILED_ROWS_SHOWN)
            ).all()
            return MailStatus(
                pending=counts.by_state.get(PENDING, 0),
                retrying=counts.retrying,
                failed=counts.by_state.get(FAILED, 0),
                oldest_pending_age_seconds=counts.oldest_pending_age_seconds,
                last_error=counts.last_error,
                failed_mails=[
                    FailedMail(row.id, row.kind, row.recipient, row.attempts, row.last_error, row.created_at)
                    for row in failed
                ],
            )
