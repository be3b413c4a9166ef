"""When the directory sync runs: under the lease, and from the periodic thread.

Every serving process runs a :class:`SyncSchedule` thread. It wakes every ``tick`` seconds and
starts a run when ``interval_seconds`` have passed since the last run *anywhere* (the run
history is in the shared database), and only if it takes the lease: so across replicas and
workers one run at a time, about once per interval. A manual run (CLI, admin API) takes the same
lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from gateway.config.registrysync import SyncSettings
from gateway.registry.sync import DirectorySync
from gateway.registry.syncresult import SyncResult
from gateway.registry.syncruns import SyncRuns
from providers.sql import utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

# How long a run may hold the lease before another process may take it over (a run that
# died). Longer than a directory read may take (its own limit is 600 s per directory).
LEASE_TTL = timedelta(minutes=30)


class SyncBusy(Exception):
    """Another process holds the sync lease: a run is under way elsewhere."""


def holder_id() -> str:
    """This process, as named in the lease."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SyncRunner:
    """Runs the sync under the lease; the one way a run starts (schedule, CLI, admin API)."""

    def __init__(self, sync: DirectorySync, runs: SyncRuns, *, holder: str | None = None):
        self.sync = sync
        self.runs = runs
        self._holder = holder or holder_id()

    def run(self, *, dry_run: bool = False, trigger: str = "manual") -> SyncResult:
        """One run; a dry run needs no lease (it changes nothing). Raises SyncBusy when
        another process is running one."""
        if dry_run:
            return self.sync.run(dry_run=True, trigger=trigger)
        return self._under_lease(lambda: self.sync.run(trigger=trigger))

    def run_if_due(self, interval: timedelta) -> SyncResult | None:
        """A scheduled run if ``interval`` has passed since the last real run anywhere (checked
        again under the lease, so a run that just ended elsewhere is not repeated); else None.
        Raises SyncBusy when another process is running one."""
        if not self.due(interval):
            return None
        return self._under_lease(lambda: self.sync.run(trigger="schedule") if self.due(interval) else None)

    def _under_lease(self, work: Callable[[], T]) -> T:
        if not self.runs.acquire(self._holder, LEASE_TTL):
            raise SyncBusy("a directory sync is already running")
        try:
            return work()
        finally:
            self.runs.release(self._holder)

    def due(self, interval: timedelta, now: datetime | None = None) -> bool:
        """Whether ``interval`` has passed since the last real run started anywhere."""
        last = self.runs.last_real_start()
        return last is None or (now or utcnow()) - last >= interval


class SyncSchedule:
    """A daemon thread per process that runs the sync when it is due (see the module doc)."""

    def __init__(
        self,
        runner: SyncRunner,
        settings: SyncSettings,
        *,
        tick: float | None = None,
        on_error: Callable[[Exception], None] | None = None,
        directories_may_change: bool = False,
    ):
        """``directories_may_change``: admins may add a directory while this process runs
        (``provider_source: database``), so the thread runs even while there is none."""
        self._runner = runner
        self._interval = timedelta(seconds=settings.interval_seconds)
        self._enabled = settings.enabled and (directories_may_change or bool(runner.sync.directories))
        self._tick = tick if tick is not None else min(60.0, max(1.0, settings.interval_seconds / 4))
        self._on_error = on_error
        self._stop = threading.Event()
        self._pid: int | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """Whether this schedule ever runs (sync enabled, and a directory to read or one that
        may be added)."""
        return self._enabled

    def ensure_running(self) -> None:
        """Start this process's thread (once per process; never inherited across a fork)."""
        if not self._enabled or self._stop.is_set() or self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
        threading.Thread(target=self._run_forever, name="directory-sync", daemon=True).start()

    def stop(self) -> None:
        """Stop the thread after its current round."""
        self._stop.set()

    def run_if_due(self) -> SyncResult | None:
        """One round: a run if one is due, a directory is in force and the lease is free; its
        result, or None. The directories are those in force at this round (the provider set
        refreshed as before a web request)."""
        if not self._runner.sync.directories:
            return None
        try:
            return self._runner.run_if_due(self._interval)
        except SyncBusy:
            return None

    def _run_forever(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self.run_if_due()
            except Exception as error:  # a round that failed (database down) skips that round only
                log.warning("directory sync round failed: %s", error)
                if self._on_error:
                    self._on_error(error)
