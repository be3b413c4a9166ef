"""A flush run every few seconds on a background thread of the process that needs it."""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable


class PeriodicFlush:
    """Calls ``flush`` every ``interval`` seconds on a daemon thread, and once at exit (unless
    ``at_exit`` is False); what ``flush`` returns is ignored.

    The thread is started by :meth:`ensure_running` in the process that calls it (a gunicorn
    worker), never inherited across a fork. An exception in ``flush`` skips that round only.
    """

    def __init__(self, flush: Callable[[], object], interval: float, name: str, *, at_exit: bool = True):
        self._flush = flush
        self._at_exit = at_exit
        self._interval = interval
        self._name = name
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._stopped = False

    def stop(self) -> None:
        """Stop this process's thread after its current round (it is not restarted)."""
        self._stopped = True

    def ensure_running(self) -> None:
        if self._pid == os.getpid() or self._stopped:
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
        threading.Thread(target=self._run_forever, name=self._name, daemon=True).start()
        if self._at_exit:
            atexit.register(self._flush)

    def _run_forever(self) -> None:
        while not self._stopped:
            time.sleep(self._interval)
            try:
                self._flush()
            except Exception:
                pass
