"""The audit trail: login outcomes and administrative changes, never a secret."""

from __future__ import annotations

import logging
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from gateway.storage.db import Database
from gateway.storage.models import AuditEvent
from providers.sql import utcnow

log = logging.getLogger("gateway.audit")
_INSERT = insert(cast(Table, AuditEvent.__table__))


class AuditLog:
    def __init__(self, database: Database):
        self._db = database

    def record(
        self,
        event: str,
        outcome: str,
        *,
        username: str | None = None,
        provider: str | None = None,
        **detail: Any,
    ) -> None:
        """Write one event. An audit write that fails is logged, not raised: it must not turn
        a correct answer into an error."""
        try:
            with self._db.engine.begin() as connection:
                connection.execute(_INSERT, _row(event, outcome, username, provider, detail))
        except SQLAlchemyError as error:
            log.error(
                "audit write failed (%s): event=%s outcome=%s user=%s",
                type(error).__name__,
                event,
                outcome,
                username,
            )

    def record_in(
        self,
        session: Session,
        event: str,
        outcome: str,
        *,
        username: str | None = None,
        provider: str | None = None,
        **detail: Any,
    ) -> None:
        """Write one event in ``session``'s transaction: it is kept exactly when the change it
        describes is. For work already inside a transaction: on SQLite a second connection
        would wait for that transaction's write lock and the row would be lost."""
        session.execute(_INSERT, _row(event, outcome, username, provider, detail))


def _row(event: str, outcome: str, username: str | None, provider: str | None, detail: dict) -> dict:
    return {
        "at": utcnow(),
        "event": event,
        "outcome": outcome,
        "username": _clean(username),
        "provider": _clean(provider),
        "detail": {key: _clean(value) for key, value in detail.items()},
    }


def _clean(value: Any) -> Any:
    """Strings as a database accepts them: no NUL (PostgreSQL refuses it), at most 127 chars."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")[:127]
    return value
