"""Reading the audit trail: filtered pages (newest first) and exports.

The trail never holds a secret: :class:`gateway.observe.audit.AuditLog` is only ever given usernames,
provider ids, outcomes, reasons and ids, never a password, token or key. What is read back
here is exactly what was written, so nothing secret can come out either.

Filters: ``event``, ``username``, ``outcome``, ``provider`` (exact), ``actor`` (the admin who
made a change, kept in the event's detail), ``since``/``until`` (``since <= at < until``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from gateway.admin.errors import AdminError
from gateway.storage.db import Database
from gateway.storage.models import AuditEvent

MAX_PAGE = 1000
MAX_EXPORT = 100_000
EXPORT_BATCH = 1000
_TABLE = AuditEvent.__table__


@dataclass(frozen=True)
class AuditFilter:
    event: str | None = None
    username: str | None = None
    outcome: str | None = None
    provider: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    through_id: int | None = None  # a snapshot: events written later are left out

    def conditions(self) -> list[Any]:
        found = [
            _TABLE.c[name] == value
            for name, value in (
                ("event", self.event),
                ("username", self.username),
                ("outcome", self.outcome),
                ("provider", self.provider),
            )
            if value is not None
        ]
        if self.actor is not None:
            # JSON path access compiles per database (json_extract, ->>), so this stays SQL.
            found.append(_TABLE.c.detail["actor"].as_string() == self.actor)
        if self.since is not None:
            found.append(_TABLE.c.at >= self.since)
        if self.until is not None:
            found.append(_TABLE.c.at < self.until)
        if self.through_id is not None:
            found.append(_TABLE.c.id <= self.through_id)
        return found


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    event: str
    outcome: str
    username: str | None
    provider: str | None
    detail: dict[str, Any]

    @property
    def actor(self) -> str | None:
        actor = self.detail.get("actor")
        return actor if isinstance(actor, str) else None


class AuditQuery:
    def __init__(self, database: Database):
        self._db = database

    def snapshot(self, where: AuditFilter) -> AuditFilter:
        """``where``, limited to the events written so far (an export then matches its count,
        whatever is written while it streams)."""
        with self._db.engine.connect() as connection:
            latest = connection.execute(select(func.max(_TABLE.c.id))).scalar()
        return replace(where, through_id=latest or 0)

    def count(self, where: AuditFilter) -> int:
        """How many events match."""
        with self._db.engine.connect() as connection:
            return connection.execute(
                select(func.count()).select_from(_TABLE).where(*where.conditions())
            ).scalar_one()

    def search(self, where: AuditFilter, offset: int = 0, limit: int = 100) -> tuple[list[AuditEntry], int]:
        """One page of matching events, newest first, and how many match in all."""
        if not 1 <= limit <= MAX_PAGE:
            raise AdminError(400, f"limit must be 1 to {MAX_PAGE}", "limit")
        with self._db.engine.connect() as connection:
            rows = connection.execute(
                select(_TABLE)
                .where(*where.conditions())
                .order_by(_TABLE.c.id.desc())
                .offset(offset)
                .limit(limit)
            )
            entries = [_entry(row) for row in rows]
        return entries, self.count(where)

    def export(self, where: AuditFilter, cap: int = MAX_EXPORT) -> Iterator[AuditEntry]:
        """The matching events, newest first, at most ``cap``; read in batches (keyset by id),
        so an export holds neither a connection nor all rows for its whole length."""
        before: int | None = None
        left = cap
        while left > 0:
            conditions = where.conditions()
            if before is not None:
                conditions.append(_TABLE.c.id < before)
            with self._db.engine.connect() as connection:
                rows = connection.execute(
                    select(_TABLE)
                    .where(*conditions)
                    .order_by(_TABLE.c.id.desc())
                    .limit(min(EXPORT_BATCH, left))
                ).all()
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            left -= len(rows)
            before = rows[-1].id


def _entry(row) -> AuditEntry:
    detail = row.detail if isinstance(row.detail, dict) else {}
    return AuditEntry(row.id, row.at, row.event, row.outcome, row.username, row.provider, detail)
