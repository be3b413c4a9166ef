"""Unit tests (no sockets): JSON log lines, and the batched auth-attempt lines."""

from __future__ import annotations

import io
import json
import logging
import time

from gateway.observe.logs import AuthEvents, JsonFormatter
from gateway.observe.requestid import current_request_id


def test_auth_events_are_json_lines_with_the_request_id():
    stream = io.StringIO()
    events = AuthEvents(interval=0.01, stream=stream)
    logging.getLogger(AuthEvents.LOGGER).setLevel(logging.INFO)
    token = current_request_id.set("req-1")
    try:
        events.record(auth_user="alice", auth_outcome="success", duration_ms=1.5)
    finally:
        current_request_id.reset(token)
    events.flush()
    line = json.loads(stream.getvalue())
    assert line["message"] == "auth attempt" and line["request_id"] == "req-1"
    assert line["auth_user"] == "alice" and line["level"] == "INFO"


def test_auth_events_are_written_by_the_background_writer_without_a_flush():
    stream = io.StringIO()
    events = AuthEvents(interval=0.01, stream=stream)
    logging.getLogger(AuthEvents.LOGGER).setLevel(logging.INFO)
    events.record(auth_user="bob", auth_outcome="wrong_credentials")
    deadline = time.monotonic() + 30  # a starved writer thread on a loaded machine
    while not stream.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert json.loads(stream.getvalue())["auth_user"] == "bob"


def test_auth_events_follow_the_log_level():
    stream = io.StringIO()
    events = AuthEvents(interval=0.01, stream=stream)
    logger = logging.getLogger(AuthEvents.LOGGER)
    logger.setLevel(logging.WARNING)
    try:
        events.record(auth_user="carol", auth_outcome="success")
        events.flush()
        assert stream.getvalue() == ""
    finally:
        logger.setLevel(logging.NOTSET)


def test_formatter_puts_extra_fields_in_the_json_object():
    record = logging.makeLogRecord(
        {"msg": "hello %s", "args": ("x",), "levelname": "INFO", "name": "gateway.test", "custom": 7}
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "hello x" and entry["custom"] == 7 and entry["time"].endswith("Z")


def test_no_auth_line_is_lost_under_concurrency():
    import sys
    import threading

    stream = io.StringIO()
    events = AuthEvents(interval=0.001, stream=stream)
    logging.getLogger(AuthEvents.LOGGER).setLevel(logging.INFO)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [
            threading.Thread(target=lambda: [events.record(n=i) for i in range(3000)]) for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(old)
    events.flush()
    assert len(stream.getvalue().splitlines()) == 12000
