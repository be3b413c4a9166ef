"""A narrated LDAP login for admins: each step, and the provider's own log records from this
thread, become notes."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

from providers.base import Note


@contextlib.contextmanager
def logs_as_notes(logger_name: str, note: Note, *, exclusive: bool = False) -> Iterator[None]:
    """Show the records a logger emits from this thread (server failures, skipped servers) as
    ``server`` notes for the duration of the block. Other threads' records (other requests in
    a server) are not this trial's. ``exclusive`` keeps the records off the normal logs."""
    thread = threading.get_ident()

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.thread == thread:
                note("server", record.getMessage())

    logger = logging.getLogger(logger_name)
    handler, propagate = Handler(logging.INFO), logger.propagate
    logger.addHandler(handler)
    if exclusive:
        logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
