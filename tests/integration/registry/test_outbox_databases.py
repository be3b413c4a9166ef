"""Integration tests: the Registry outbox on real PostgreSQL and MariaDB servers, with both
claim strategies. Several deliverers (threads, then separate processes) share one table and
must deliver every row exactly once, each user's rows in order; a restart with a stale lease
left behind delivers the rest."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from gateway.registry.outbox import enqueue
from gateway.registry.outboxclaim import CONDITIONAL, SKIP_LOCKED, claim
from gateway.registry.outboxdelivery import Deliverer
from gateway.registry.outboxwriter import KINDS
from gateway.storage.db import Database
from gateway.storage.outbox import RegistryOutboxEntry
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.integration

USERS = 30
_names = itertools.count()


@pytest.fixture(params=["postgresql", "mariadb"])
def database(request):
    name = f"outbox_{next(_names)}_{os.getpid()}"
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database(name)
    else:
        url = request.getfixturevalue("mariadb_server").create_database(name)
    db = Database(url)
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture(params=[SKIP_LOCKED, CONDITIONAL])
def strategy(request):
    return request.param


class RecordingWriter:
    """Appends (username, seq) to a shared list, slowly enough for deliverers to interleave."""

    def __init__(self, log: list, lock: threading.Lock):
        self._log = log
        self._lock = lock

    def _write(self, username, payload):
        time.sleep(0.002)
        with self._lock:
            self._log.append((username, payload["seq"]))

    def set_metadata(self, username, payload):
        self._write(username, payload)

    def delete_user(self, username, payload):
        self._write(username, payload)

    def set_organizations(self, username, payload):
        self._write(username, payload)


def fill(database: Database) -> set[tuple[str, int]]:
    """One row of each kind for each of USERS users, interleaved; returns (username, seq)."""
    expected = set()
    for seq, kind in enumerate(KINDS):
        for user in range(USERS):
            with database.session() as session:
                enqueue(session, f"user{user}", kind, {"seq": seq})
            expected.add((f"user{user}", seq))
    return expected


def remaining(database: Database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(RegistryOutboxEntry))


def assert_exactly_once_in_order(log: list[tuple[str, int]], expected: set[tuple[str, int]]) -> None:
    assert len(log) == len(expected), "some row was delivered twice or not at all"
    assert set(log) == expected
    for user in {username for username, _ in expected}:
        sequence = [seq for username, seq in log if username == user]
        assert sequence == sorted(sequence), f"{user}'s writes out of order: {sequence}"


def drain(deliverer: Deliverer, database: Database, deadline: float) -> None:
    while remaining(database) and time.monotonic() < deadline:
        deliverer.run_once()


def test_deliverers_in_threads_deliver_each_row_once_in_order_per_user(database, strategy):
    expected = fill(database)
    log: list = []
    lock = threading.Lock()
    replicas = [Database(database.url) for _ in range(3)]  # each its own pool, as replicas have
    deliverers = [
        Deliverer(replica, RecordingWriter(log, lock), strategy=strategy, batch_size=5)
        for replica in replicas
    ]
    deadline = time.monotonic() + 60
    threads = [
        threading.Thread(target=drain, args=(deliverer, database, deadline)) for deliverer in deliverers
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for replica in replicas:
            replica.dispose()

    assert remaining(database) == 0
    assert_exactly_once_in_order(log, expected)


WORKER = """
import sys, time
from sqlalchemy import text
from gateway.registry.outboxdelivery import Deliverer
from gateway.storage.db import Database

url, strategy, out = sys.argv[1:4]

class AppendingWriter:
    def _write(self, username, payload):
        time.sleep(0.002)
        with open(out, "a") as f:  # O_APPEND: each short line lands whole
            f.write(f"{username} {payload['seq']}\\n")
    set_metadata = delete_user = set_organizations = _write

database = Database(url)
deliverer = Deliverer(database, AppendingWriter(), strategy=strategy, batch_size=5)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    deliverer.run_once()
    with database.session() as session:
        if not session.execute(text("SELECT count(*) FROM registry_outbox")).scalar():
            break
"""


def test_deliverers_in_separate_processes_deliver_each_row_once_in_order_per_user(
    database, strategy, tmp_path
):
    expected = fill(database)
    out = tmp_path / "writes.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, database.url, strategy, str(out)], env=env)
        for _ in range(2)
    ]
    for worker in workers:
        assert worker.wait(timeout=120) == 0

    log = [(line.split()[0], int(line.split()[1])) for line in out.read_text().splitlines()]
    assert remaining(database) == 0
    assert_exactly_once_in_order(log, expected)


def test_a_restart_retakes_a_dead_processs_stale_lease_and_delivers_the_rest(database, strategy):
    expected = fill(database)
    now = datetime.now(UTC)
    dead_claim = claim(database.engine, "dead-process", now, now + timedelta(seconds=60), 10, strategy)
    assert len(dead_claim) == 10
    with database.session() as session:  # that process died, and its lease has run out since
        session.execute(
            update(RegistryOutboxEntry)
            .where(RegistryOutboxEntry.claimed_by == "dead-process")
            .values(claimed_until=now - timedelta(minutes=4))
        )
    log: list = []

    restarted = Deliverer(database, RecordingWriter(log, threading.Lock()), strategy=strategy)
    drain(restarted, database, time.monotonic() + 60)

    assert remaining(database) == 0
    assert_exactly_once_in_order(log, expected)


def test_a_live_lease_is_respected(database, strategy):
    fill(database)
    now = datetime.now(UTC)
    held = claim(database.engine, "live-process", now, now + timedelta(seconds=60), USERS, strategy)
    assert len(held) == USERS  # every user's first row

    log: list = []
    report = Deliverer(database, RecordingWriter(log, threading.Lock()), strategy=strategy).run_once()

    assert report.handled == 0 and log == []  # every user's next row waits behind a held one
