"""Where directory sync runs are recorded and the lease that lets one run at a time.

Both live in the gateway's database, which every replica shares (the state store may be a
per-machine SQLite file, so it cannot be the lock across replicas).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from gateway.storage.db import Database
from gateway.storage.directorysync import DirectorySyncLease, DirectorySyncRun
from providers.sql import utcnow

LEASE_NAME = "directory-sync"
RUNNING = "running"
KEEP_RUNS = 50


@dataclass(frozen=True)
class RunRecord:
    """One recorded run, as the admin UI and API show it."""

    id: int
    started_at: datetime
    finished_at: datetime | None
    trigger: str
    dry_run: bool
    state: str
    duration_seconds: float | None
    result: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "trigger": self.trigger,
            "dry_run": self.dry_run,
            "state": self.state,
            "duration_seconds": self.duration_seconds,
            "result": self.result,
        }


class SyncRuns:
    """The run history (the last ``keep`` runs) and the cross-replica lease."""

    def __init__(self, database: Database, *, keep: int = KEEP_RUNS):
        self._db = database
        self._keep = keep

    # ---- the lease ------------------------------------------------------------------------

    def acquire(self, holder: str, ttl: timedelta) -> bool:
        """Take the lease for ``ttl`` if it is free (or expired, or already ``holder``'s);
        whether it is now ``holder``'s. Atomic across processes: one conditional UPDATE."""
        for _attempt in range(2):
            now = utcnow()
            with self._db.session() as session:
                result = session.execute(
                    update(DirectorySyncLease)
                    .where(
                        DirectorySyncLease.name == LEASE_NAME,
                        or_(
                            DirectorySyncLease.holder.is_(None),
                            DirectorySyncLease.holder == holder,
                            DirectorySyncLease.held_until < now,
                        ),
                    )
                    .values(holder=holder, held_until=now + ttl)
                )
                if cast("CursorResult[Any]", result).rowcount == 1:
                    return True
                if session.get(DirectorySyncLease, LEASE_NAME) is not None:
                    return False  # held by someone else
            try:  # the first run ever: create the (free) row, then compete for it
                with self._db.session() as session:
                    session.add(DirectorySyncLease(name=LEASE_NAME))
            except IntegrityError:
                pass  # another process created it meanwhile
        return False

    def holder(self, now: datetime | None = None) -> str | None:
        """Who holds the lease now (a run under way), or None when it is free or expired."""
        with self._db.session() as session:
            lease = session.get(DirectorySyncLease, LEASE_NAME)
            if lease is None or lease.holder is None or lease.held_until is None:
                return None
            return lease.holder if lease.held_until >= (now or utcnow()) else None

    def release(self, holder: str) -> None:
        """Free the lease if ``holder`` still holds it."""
        with self._db.session() as session:
            session.execute(
                update(DirectorySyncLease)
                .where(DirectorySyncLease.name == LEASE_NAME, DirectorySyncLease.holder == holder)
                .values(holder=None, held_until=None)
            )

    # ---- the history ----------------------------------------------------------------------

    def start(self, trigger: str, dry_run: bool) -> int:
        """Record a run that starts now; its id."""
        with self._db.session() as session:
            run = DirectorySyncRun(trigger=trigger[:127], dry_run=dry_run, state=RUNNING)
            session.add(run)
            session.flush()
            return run.id

    def progress(self, run_id: int, directory: str, checked: int) -> None:
        """Record how far a run under way has got: ``checked`` accounts so far (every directory
        read so far), now reading ``directory``. A finished run is left as it is."""
        with self._db.session() as session:
            session.execute(
                update(DirectorySyncRun)
                .where(DirectorySyncRun.id == run_id, DirectorySyncRun.state == RUNNING)
                .values(result={"progress": {"directory": directory, "checked": checked}})
            )

    def finish(self, run_id: int, state: str, duration: float, result: dict[str, Any]) -> None:
        """Record the run's outcome and forget all but the last ``keep`` runs."""
        with self._db.session() as session:
            session.execute(
                update(DirectorySyncRun)
                .where(DirectorySyncRun.id == run_id)
                .values(finished_at=utcnow(), state=state, duration_seconds=duration, result=result)
            )
            cutoff = session.scalars(
                select(DirectorySyncRun.id).order_by(DirectorySyncRun.id.desc()).offset(self._keep).limit(1)
            ).first()
            if cutoff is not None:
                session.execute(delete(DirectorySyncRun).where(DirectorySyncRun.id <= cutoff))

    def recent(self, limit: int = 20) -> list[RunRecord]:
        """The latest runs, newest first."""
        with self._db.session() as session:
            rows = session.scalars(select(DirectorySyncRun).order_by(DirectorySyncRun.id.desc()).limit(limit))
            return [_record(row) for row in rows]

    def get(self, run_id: int) -> RunRecord | None:
        """The recorded run ``run_id``, or None when it was never recorded or is forgotten."""
        with self._db.session() as session:
            row = session.get(DirectorySyncRun, run_id)
            return _record(row) if row is not None else None

    def last_real_start(self) -> datetime | None:
        """When the latest run that was not a dry run started, on any replica."""
        with self._db.session() as session:
            return session.scalars(
                select(DirectorySyncRun.started_at)
                .where(DirectorySyncRun.dry_run.is_(False))
                .order_by(DirectorySyncRun.id.desc())
                .limit(1)
            ).first()


def _record(row: DirectorySyncRun) -> RunRecord:
    return RunRecord(
        row.id,
        row.started_at,
        row.finished_at,
        row.trigger,
        row.dry_run,
        row.state,
        row.duration_seconds,
        dict(row.result) if row.result else None,
    )
