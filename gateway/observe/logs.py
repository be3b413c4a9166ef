"""Structured logging: one JSON object per line, with the request id when there is one.

Ordinary messages go through :mod:`logging`. Authentication attempts, one per request, are
written by :class:`AuthEvents` as the same kind of JSON line straight to the log stream:
Python's logging machinery costs about 30 us a record, a tenth of a whole token-path request.
"""

from __future__ import annotations

import collections
import functools
import json
import logging
import sys
import threading
import time

from gateway.observe.periodic import PeriodicFlush
from gateway.observe.requestid import current_request_id

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

# json.dumps(entry, default=str), without building a new encoder for every line (dumps does
# that whenever it is given an option): a measurable share of a token-path request.
_encode = json.JSONEncoder(default=str).encode


@functools.lru_cache(maxsize=4)
def _second_text(whole: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def _timestamp(seconds: float) -> str:
    # One strftime per second of log lines, not one per line.
    return f"{_second_text(int(seconds))}.{int(seconds % 1 * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = current_request_id.get()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encode(entry)


def configure_logging(level: str) -> None:
    """Send every log record to stderr as JSON; idempotent."""
    # Records carry no caller, thread or process fields (the JSON line does not show them), so
    # skip computing them: the stack walk alone is a measurable share of a token-path request.
    # These are the switches the logging documentation names for this ("Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    if any(getattr(handler, "_gateway", False) for handler in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._gateway = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)


class AuthEvents:
    """Writes one JSON line per authentication attempt to the log stream (stderr).

    The line has the same shape as every other log line (time, level, logger, message,
    request_id) plus the attempt's fields. It is written when the ``gateway.auth`` logger is
    enabled for INFO, so GATEWAY_LOG_LEVEL governs it like everything else. Never pass a
    password, token or hash in ``fields``.

    Request threads only append the finished line to a batch; a background thread writes the
    batch every ``interval`` seconds, and at exit. One write per batch instead of one per
    request keeps the syscall (and the GIL hand-off around it) off the token path. A process
    killed outright (SIGKILL) can lose the last ``interval`` of lines.
    """

    LOGGER = "gateway.auth"

    def __init__(self, interval: float = 0.05, stream=None):
        self._logger = logging.getLogger(self.LOGGER)
        self._stream = stream
        self._pending: collections.deque[str] = collections.deque()
        self._lock = threading.Lock()
        self._writer = PeriodicFlush(self.flush, interval, "auth-log")

    def record(self, **fields) -> None:
        if not self._logger.isEnabledFor(logging.INFO):
            return
        entry = {
            "time": _timestamp(time.time()),
            "level": "INFO",
            "logger": self.LOGGER,
            "message": "auth attempt",
        }
        request_id = current_request_id.get()
        if request_id is not None:
            entry["request_id"] = request_id
        entry.update(fields)
        self._pending.append(_encode(entry) + "\n")
        self._writer.ensure_running()

    def flush(self) -> None:
        """Write every pending line now."""
        with self._lock:
            lines = []
            try:
                while True:  # deque appends and pops are atomic: no line can slip between
                    lines.append(self._pending.popleft())
            except IndexError:
                pass
            if lines:
                stream = self._stream or sys.stderr
                stream.write("".join(lines))
                stream.flush()
