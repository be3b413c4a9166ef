"""Delivering the mail queue from every serving process, once across replicas.

A :class:`MailDeliverer` thread claims due rows under a lease (a conditional UPDATE that
repeats the "free and due" test, so of two replicas only one takes a row), sends each through
:class:`gateway.mail.sender.SmtpSender`, and records the outcome: a sent row is deleted; a
passing failure (the server down, a timeout, a 4xx) is tried again after an exponential
backoff with jitter; a 5xx refusal, or the last of ``max_attempts``, marks the row ``failed``
with its error and clears its body. A failed send never reaches the request that queued it.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from gateway.mail.messages import Rendered
from gateway.mail.queue import COMMITTED, TABLE, MailQueue, MailStatus
from gateway.mail.sender import PermanentSendError, SmtpSender
from gateway.storage import workqueue
from gateway.storage.background import PollingWorker
from gateway.storage.db import Database
from gateway.storage.mailqueue import FAILED, MailMessage
from gateway.storage.workqueue import Backoff

log = logging.getLogger(__name__)
ERROR_TEXT_LIMIT = 1000
RETRY_CAP_SECONDS = 3600.0
SENT = Counter("gateway_mail_sent", "E-mails the SMTP server accepted, by kind.", ["kind"])
RETRIED = Counter(
    "gateway_mail_retries", "E-mail sends that failed and will be tried again, by kind.", ["kind"]
)
FAILED_SENDS = Counter("gateway_mail_failed", "E-mails given up on, by kind.", ["kind"])


@dataclass
class MailReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0


class MailDeliverer:
    def __init__(
        self,
        database: Database,
        sender: SmtpSender,
        queue: MailQueue,
        *,
        lease_seconds: float = 120.0,
        batch_size: int = 10,
        poll_interval: float = 5.0,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
    ):
        self._database = database
        self._sender = sender
        self._queue = queue
        self._cipher = queue.cipher
        self._lease = timedelta(seconds=lease_seconds)
        self._batch_size = batch_size
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = rng or random.Random()
        self._identity = f"{socket.gethostname()[:50]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._rounds = itertools.count(1)
        self._worker = PollingWorker(
            self.run_once,
            name="mail-deliverer",
            poll_interval=poll_interval,
            signal=COMMITTED,
            log=log,
            what="Mail delivery",
        )
        # Request kinds (gateway.mail.service.Expander) the deliverer turns into messages.
        self.expanders: dict[str, Callable[[Session, str], list[tuple[str, str, Rendered]]]] = {}

    def run_once(self) -> MailReport:
        """Send every message that is due now; what came of it."""
        report = MailReport()
        for _ in range(100):
            rows = self._claim()
            if not rows:
                break
            for row in rows:
                self._deliver(row, report)
        return report

    def _claim(self) -> list[MailMessage]:
        now = self._clock()
        token = f"{self._identity}:{next(self._rounds)}"
        free_and_due = workqueue.free_and_due(TABLE, now)
        with self._database.session() as session:
            ids = list(
                session.scalars(
                    select(TABLE.c.id).where(free_and_due).order_by(TABLE.c.id).limit(self._batch_size)
                )
            )
        if not ids:
            return []
        with self._database.session() as session:
            session.execute(
                update(TABLE)
                .where(TABLE.c.id.in_(ids), free_and_due)
                .values(claimed_by=token, claimed_until=now + self._lease)
            )
        with self._database.session() as session:
            rows = list(session.scalars(select(MailMessage).where(MailMessage.claimed_by == token)))
            session.expunge_all()
            return rows

    def _deliver(self, row: MailMessage, report: MailReport) -> None:
        expander = self.expanders.get(row.kind)
        if expander is not None:
            self._expand(row, expander)
            return
        try:
            if row.body is None:
                raise PermanentSendError("the message has no body")
            text, html = self._cipher.open(row.body)
            self._sender.send(row.recipient, row.subject, text, html)
        except Exception as error:
            message = (str(error) or type(error).__name__)[:ERROR_TEXT_LIMIT]
            attempts = row.attempts + 1
            if (
                isinstance(error, (PermanentSendError, ValueError))
                or attempts >= self._sender.settings.max_attempts
            ):
                self._update(row, state=FAILED, attempts=attempts, last_error=message, body=None)
                FAILED_SENDS.labels(row.kind).inc()
                report.failed += 1
                log.warning("Gave up sending a %s e-mail after %d attempts: %s", row.kind, attempts, message)
            else:
                backoff = Backoff(self._sender.settings.retry_base_seconds, RETRY_CAP_SECONDS, self._rng)
                self._update(
                    row,
                    attempts=attempts,
                    last_error=message,
                    next_attempt_at=self._clock() + timedelta(seconds=backoff.delay(attempts)),
                )
                RETRIED.labels(row.kind).inc()
                report.retried += 1
                log.info(
                    "Sending a %s e-mail failed (attempt %d), will retry: %s", row.kind, attempts, message
                )
        else:
            with self._database.session() as session:
                session.execute(
                    delete(TABLE).where(TABLE.c.id == row.id, TABLE.c.claimed_by == row.claimed_by)
                )
            SENT.labels(row.kind).inc()
            report.sent += 1

    def _expand(self, row: MailMessage, expander) -> None:
        """Replace a request row by the messages it stands for, in one transaction."""
        try:
            text = self._cipher.open(row.body)[0] if row.body is not None else ""
            with self._database.session() as session:
                held = session.execute(
                    delete(TABLE).where(TABLE.c.id == row.id, TABLE.c.claimed_by == row.claimed_by)
                )
                if getattr(held, "rowcount", 0) != 1:
                    return
                for recipient, kind, rendered in expander(session, text):
                    self._queue.enqueue(session, kind, recipient, rendered)
        except Exception as error:
            log.warning("Could not expand a %s request: %s", row.kind, type(error).__name__)
            self._update(
                row, state=FAILED, attempts=row.attempts + 1, last_error=type(error).__name__, body=None
            )

    def _update(self, row: MailMessage, **values) -> None:
        with self._database.session() as session:
            session.execute(
                update(TABLE)
                .where(TABLE.c.id == row.id, TABLE.c.claimed_by == row.claimed_by)
                .values(claimed_by=None, claimed_until=None, **values)
            )

    # ---- the background thread ----------------------------------------------------------

    def start(self) -> None:
        """Run :meth:`run_once` on a daemon thread of this process: at once, when this process
        queues a message, and every ``poll_interval`` seconds. Idempotent and fork-aware."""
        self._worker.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        self._worker.stop(timeout)


class MailQueueCollector:
    """Gauges of the shared mail queue, read at scrape time (no samples when the database
    cannot answer, rather than a failed scrape)."""

    def __init__(self, read_status: Callable[[], MailStatus]):
        self._read_status = read_status

    def collect(self):
        try:
            status = self._read_status()
        except Exception:
            return
        rows = GaugeMetricFamily("gateway_mail_queue_rows", "Queued e-mails.", labels=["state"])
        rows.add_metric(["pending"], status.pending)
        rows.add_metric(["retrying"], status.retrying)
        rows.add_metric(["failed"], status.failed)
        yield rows
        yield GaugeMetricFamily(
            "gateway_mail_oldest_pending_age_seconds",
            "Age of the oldest e-mail waiting to be sent (0 when none waits).",
            value=status.oldest_pending_age_seconds or 0.0,
        )
