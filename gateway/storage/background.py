"""Work on queued rows in the background of every process: wake-ups on commit, a polling thread.

Two queues (the mail queue, the Registry outbox) follow the same pattern: a change adds a row
in its own transaction, and a daemon thread of each serving process delivers due rows at once
when this process committed one, otherwise every few seconds. :class:`CommitSignal` is the
"this process committed a row" half, :class:`PollingWorker` the thread half.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session


class CommitSignal:
    """Events of this process that are set when a transaction marked by :meth:`on_commit`
    commits (never when it rolls back)."""

    def __init__(self, session_key: str):
        self._session_key = session_key
        self._waiters: weakref.WeakSet[threading.Event] = weakref.WeakSet()
        self._lock = threading.Lock()

    def register(self, wakeup: threading.Event) -> None:
        """``wakeup`` is set whenever a marked transaction commits in this process."""
        with self._lock:
            self._waiters.add(wakeup)

    def unregister(self, wakeup: threading.Event) -> None:
        with self._lock:
            self._waiters.discard(wakeup)

    def wake_all(self) -> None:
        """Set every registered event now."""
        with self._lock:
            waiters = list(self._waiters)
        for wakeup in waiters:
            wakeup.set()

    def on_commit(self, session: Session) -> None:
        """Wake the waiters once when ``session``'s current transaction commits (marking the
        same transaction twice wakes them once)."""
        if not session.info.get(self._session_key):
            session.info[self._session_key] = True
            event.listen(session, "after_commit", self._after_commit, once=True)

    def _after_commit(self, session: Session) -> None:
        session.info.pop(self._session_key, None)
        self.wake_all()


class PollingWorker:
    """Calls ``run_once`` on a daemon thread of the process that called :meth:`start`: at
    once, whenever ``signal`` fires or :meth:`wake` is called, and every ``poll_interval``
    seconds. Idempotent; after a fork the child starts its own thread. An exception in
    ``run_once`` is logged on ``log`` (``what`` names the work) and the thread goes on."""

    def __init__(
        self,
        run_once: Callable[[], object],
        *,
        name: str,
        poll_interval: float,
        signal: CommitSignal,
        log: logging.Logger,
        what: str,
    ):
        self._run_once = run_once
        self._name = name
        self._poll_interval = poll_interval
        self._signal = signal
        self._log = log
        self._what = what
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._stopped = False
        self._wakeup = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._stopped or self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._wakeup = threading.Event()
            self._signal.register(self._wakeup)
            self._thread = threading.Thread(target=self._run_forever, name=self._name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread after its current round (it is not restarted)."""
        self._stopped = True
        self._wakeup.set()
        self._signal.unregister(self._wakeup)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def wake(self) -> None:
        """Run a round now rather than at the next poll."""
        self._wakeup.set()

    def _run_forever(self) -> None:
        while not self._stopped:
            self._wakeup.clear()
            try:
                self._run_once()
            except Exception:
                self._log.exception("%s failed; trying again in %s s", self._what, self._poll_interval)
            self._wakeup.wait(self._poll_interval)
