"""The directory sync as administrators see and start it (admin API and UI alike): the last
runs, whether a run is under way, the schedule, and a run now."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from gateway.admin.errors import AdminError
from gateway.config.registrysync import SyncSettings
from gateway.registry.syncruns import RunRecord
from gateway.registry.syncschedule import SyncBusy, SyncRunner
from providers.sql import utcnow

RECENT_RUNS = 20
NO_DIRECTORY = "no provider can list its users (the sync reads ldap providers)"
BUSY = "a directory sync is already running; try again when it has finished"


@dataclass(frozen=True)
class ScheduleView:
    """The periodic sync: ``enabled`` only when configured on and some directory can be read;
    ``next_due`` is when the next scheduled run may start (None when the schedule is off)."""

    enabled: bool
    interval_seconds: int
    last_run_at: datetime | None
    next_due: datetime | None


@dataclass(frozen=True)
class SyncOverview:
    """Everything the sync page and ``GET /admin/api/registry/sync`` show."""

    directories: list[str]
    running: bool
    schedule: ScheduleView
    runs: list[RunRecord]


class SyncAdmin:
    """Reads the run history and starts runs for an administrator."""

    def __init__(self, runner: SyncRunner, settings: SyncSettings, *, clock: Callable[[], datetime] = utcnow):
        self._runner = runner
        self._settings = settings
        self._clock = clock

    def overview(self, limit: int = RECENT_RUNS) -> SyncOverview:
        """The last ``limit`` runs (newest first), whether a real run holds the lease now, and
        the schedule."""
        runs = self._runner.runs
        now = self._clock()
        return SyncOverview(
            directories=self._runner.sync.directories,
            running=runs.holder(now) is not None,
            schedule=self._schedule(now),
            runs=runs.recent(limit),
        )

    def run(self, *, dry_run: bool, actor: str) -> RunRecord:
        """Run the sync now on behalf of ``actor`` and return the recorded run. AdminError 400
        when no directory can be listed, 409 when another run is under way."""
        if not self._runner.sync.directories:
            raise AdminError(400, NO_DIRECTORY)
        try:
            result = self._runner.run(dry_run=dry_run, trigger=actor)
        except SyncBusy:
            raise AdminError(409, BUSY) from None
        assert result.run_id is not None  # every run is recorded before it reads anything
        record = self._runner.runs.get(result.run_id)
        if record is None:  # already pushed out of the history by newer runs: rebuilt as it ended
            now = self._clock()
            started = now - timedelta(seconds=result.duration_seconds)
            summary = result.to_dict()
            duration = summary["duration_seconds"]
            return RunRecord(result.run_id, started, now, actor, dry_run, result.state, duration, summary)
        return record

    def _schedule(self, now: datetime) -> ScheduleView:
        settings = self._settings
        enabled = settings.enabled and bool(self._runner.sync.directories)
        last = self._runner.runs.last_real_start()
        next_due = None
        if enabled:
            next_due = now if last is None else max(now, last + timedelta(seconds=settings.interval_seconds))
        return ScheduleView(enabled, settings.interval_seconds, last, next_due)
