"""Delivering the Registry outbox: claim due rows, make each write, record what came of it.

A :class:`Deliverer` runs in every gateway process (a background thread started by
:meth:`Deliverer.start`, woken at once when this process enqueues, otherwise every
``poll_interval`` seconds); replicas share the work through leases
(:mod:`gateway.registry.outboxclaim`). What each outcome does to the row:

* accepted: the row is deleted, with any earlier failed row of the same user and kind (a later
  state superseded it);
* :class:`UnknownRegistryUser`: the row is ``dropped`` with the reason, never retried; except
  that a ``set_organizations`` row is first tried again a few times within seconds
  (:data:`UNKNOWN_USER_DELAYS`): a first sign-in queues it before the Registry has created the
  account, which it does only once the gateway has answered. A dropped ``set_organizations``
  also forgets the organizations last queued for the user (``registry_org_targets``), so that
  the next sign-in or directory sync queues them again instead of taking them as delivered;
* :class:`PermanentWriteError`: the row is ``failed`` with the Registry's error text;
* any other error: tried again after an exponential backoff with jitter (5 s, 10 s, ...,
  capped at 10 min), for as long as it takes: an outage must not lose a deactivation.

Delivery is at least once: a deliverer that stalls past its lease may see its row retaken
and sent again. Every write is a "set to this state" (or a delete), so a repeat is harmless.
The writer must bound each call well inside a quarter of ``lease_seconds``.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from gateway.registry import outboxmetrics as metrics
from gateway.registry.outbox import COMMITTED
from gateway.registry.outboxclaim import TABLE, ClaimedRow, claim, connect, default_strategy, is_lock_conflict
from gateway.registry.outboxwriter import (
    SET_ORGANIZATIONS,
    PermanentWriteError,
    RegistryWriter,
    UnknownRegistryUser,
)
from gateway.storage.background import PollingWorker
from gateway.storage.db import Database
from gateway.storage.outbox import DROPPED, FAILED, PENDING
from gateway.storage.registrystate import RegistryOrgTarget
from gateway.storage.workqueue import Backoff

log = logging.getLogger(__name__)
TARGETS = cast(Table, RegistryOrgTarget.__table__)
ERROR_TEXT_LIMIT = 1000
MAX_ROUNDS_PER_RUN = 1000
RECORD_ATTEMPTS = 3
# Seconds before each new try of a set_organizations the Registry refused for an unknown user:
# the account a first sign-in creates appears moments after the gateway's answer, and the
# organizations are promised within about 2 s of a sign-in.
UNKNOWN_USER_DELAYS = (0.3, 0.7, 1.5)


@dataclass
class DeliveryReport:
    """What one :meth:`Deliverer.run_once` did."""

    delivered: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    released: int = 0

    @property
    def handled(self) -> int:
        return self.delivered + self.retried + self.failed + self.dropped


class Deliverer:
    """Sends outbox rows of ``database`` through ``writer`` (see
    :class:`gateway.registry.outboxwriter.RegistryWriter`).

    ``strategy`` picks the claim method (default: by dialect); ``clock`` returns aware UTC
    datetimes (tests move it). Safe to run in any number of threads, processes and replicas.
    """

    def __init__(
        self,
        database: Database,
        writer: RegistryWriter,
        *,
        lease_seconds: float = 60.0,
        batch_size: int = 20,
        poll_interval: float = 5.0,
        backoff: Backoff | None = None,
        strategy: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ):
        self._database = database
        self._writer = writer
        self._lease = timedelta(seconds=lease_seconds)
        self._batch_size = batch_size
        self._backoff = backoff or Backoff()
        self._strategy = strategy or default_strategy(database.engine.dialect.name)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._identity = f"{socket.gethostname()[:50]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._rounds = itertools.count(1)
        self._worker = PollingWorker(
            self.run_once,
            name="registry-outbox",
            poll_interval=poll_interval,
            signal=COMMITTED,
            log=log,
            what="Registry outbox delivery",
        )

    # ---- one pass -----------------------------------------------------------------------

    def run_once(self) -> DeliveryReport:
        """Deliver every row that is due now (a user's next row as soon as the previous one is
        done), and return what happened."""
        report = DeliveryReport()
        for _ in range(MAX_ROUNDS_PER_RUN):
            rows = self._claim()
            if not rows:
                break
            for row in rows:
                self._deliver(row, report)
        return report

    def _claim(self) -> list[ClaimedRow]:
        now = self._clock()
        token = f"{self._identity}:{next(self._rounds)}"
        return claim(self._database.engine, token, now, now + self._lease, self._batch_size, self._strategy)

    def _deliver(self, row: ClaimedRow, report: DeliveryReport) -> None:
        if self._clock() >= row.claimed_until - self._lease / 4:
            # Too little of the lease is left to be sure no one else retakes the row mid-write.
            self._release(row)
            report.released += 1
            return
        try:
            getattr(self._writer, row.kind)(row.username, row.payload)
        except UnknownRegistryUser as error:
            if row.kind == SET_ORGANIZATIONS and row.attempts < len(UNKNOWN_USER_DELAYS):
                delay = UNKNOWN_USER_DELAYS[row.attempts]
                self._retry_later(row, _text(error), delay)
                self._wake_in(delay)
                metrics.RETRIED.labels(row.kind).inc()
                report.retried += 1
                return
            self._drop(row, _text(error))
            metrics.DROPPED.labels(row.kind).inc()
            report.dropped += 1
        except PermanentWriteError as error:
            self._finish(row, FAILED, _text(error))
            metrics.FAILED.labels(row.kind).inc()
            report.failed += 1
            log.warning("The Registry refused %s for %s: %s", row.kind, row.username, _text(error))
        except Exception as error:
            self._retry_later(row, _text(error))
            metrics.RETRIED.labels(row.kind).inc()
            report.retried += 1
        else:
            self._done(row)
            metrics.DELIVERED.labels(row.kind).inc()
            report.delivered += 1

    # ---- recording outcomes (each only while this claim still holds the row) --------------

    def _held(self, row: ClaimedRow):
        return (TABLE.c.id == row.id) & (TABLE.c.claimed_by == row.claimed_by)

    def _done(self, row: ClaimedRow) -> None:
        def record(connection: Connection) -> None:
            if connection.execute(delete(TABLE).where(self._held(row))).rowcount:
                connection.execute(
                    delete(TABLE).where(
                        TABLE.c.username == row.username,
                        TABLE.c.kind == row.kind,
                        TABLE.c.state == FAILED,
                        TABLE.c.id < row.id,
                    )
                )

        self._record(record)

    def _finish(self, row: ClaimedRow, state: str, error: str) -> None:
        self._update_held(
            row, state=state, attempts=row.attempts + 1, last_error=error, claimed_by=None, claimed_until=None
        )

    def _drop(self, row: ClaimedRow, error: str) -> None:
        values = dict(
            state=DROPPED, attempts=row.attempts + 1, last_error=error, claimed_by=None, claimed_until=None
        )
        statement = update(TABLE).where(self._held(row)).values(**values)

        def record(connection: Connection) -> None:
            if connection.execute(statement).rowcount and row.kind == SET_ORGANIZATIONS:
                # Not delivered: what was last queued must not count as what the Registry has.
                connection.execute(delete(TARGETS).where(TARGETS.c.username == row.username))

        self._record(record)

    def _retry_later(self, row: ClaimedRow, error: str, delay: float | None = None) -> None:
        failures = row.attempts + 1
        if delay is None:
            delay = self._backoff.delay(failures)
        self._update_held(
            row,
            state=PENDING,
            attempts=failures,
            next_attempt_at=self._clock() + timedelta(seconds=delay),
            last_error=error,
            claimed_by=None,
            claimed_until=None,
        )

    def _release(self, row: ClaimedRow) -> None:
        self._update_held(row, claimed_by=None, claimed_until=None)

    def _update_held(self, row: ClaimedRow, **values) -> None:
        statement = update(TABLE).where(self._held(row)).values(**values)
        self._record(lambda connection: connection.execute(statement))

    def _record(self, write: Callable[[Connection], object]) -> None:
        """Run ``write`` in its own transaction, again if the database aborts it over locks (the
        Registry write is made: losing its outcome would only send it again)."""
        for attempt in range(RECORD_ATTEMPTS):
            try:
                with connect(self._database.engine) as connection, connection.begin():
                    write(connection)
                return
            except OperationalError as error:
                if not is_lock_conflict(error) or attempt == RECORD_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    # ---- the background thread ----------------------------------------------------------

    def start(self) -> None:
        """Run :meth:`run_once` on a daemon thread of this process: at once, whenever this
        process enqueues, and every ``poll_interval`` seconds. Idempotent; after a fork the
        child starts its own thread."""
        self._worker.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread after its current write (it is not restarted)."""
        self._worker.stop(timeout)

    def wake(self) -> None:
        """Look for due rows now rather than at the next poll."""
        self._worker.wake()

    def _wake_in(self, seconds: float) -> None:
        """Wake the thread when a short retry falls due (the poll may be longer)."""
        timer = threading.Timer(seconds, self.wake)
        timer.daemon = True
        timer.start()


def _text(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text[:ERROR_TEXT_LIMIT]
