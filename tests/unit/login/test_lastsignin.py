"""The last sign-in per user and way in: noted in memory, written at most once per interval
(sooner for a new client), upserted, bounded, and never a reason for a login to fail."""

from __future__ import annotations

from gateway.admin.activity import Activity
from gateway.login.lastsignin import Client, LastSignIns
from gateway.storage.db import Database


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _recorder(database, clock) -> LastSignIns:
    recorder = LastSignIns(database, interval_seconds=60, flush_seconds=3600, clock=clock)
    recorder._flusher.stop()  # flushed by hand here
    return recorder


def test_repeats_within_the_interval_are_one_write(database):
    clock = Clock()
    recorder = _recorder(database, clock)
    client = Client.of("192.0.2.1", "QGIS")
    for _ in range(100):
        recorder.record("ann", "registry_password", client)
    assert recorder.flush() == 1
    for _ in range(100):
        clock.now += 0.5
        recorder.record("ann", "registry_password", client)
    assert recorder.flush() == 0  # 50 s of tiles: nothing new to write
    clock.now += 11
    recorder.record("ann", "registry_password", client)
    assert recorder.flush() == 1  # a minute on: written again
    assert recorder.writes == 2


def test_a_new_client_is_written_at_once_and_rows_are_upserted(database):
    recorder = _recorder(database, Clock())
    recorder.record("ann", "browser", Client.of("192.0.2.1", "Firefox"))
    recorder.record("ann", "browser", Client.of("198.51.100.2", "Firefox"))
    recorder.record("ann", "app_password", Client.of("192.0.2.1", "ddb"))
    assert recorder.flush() == 2  # the browser row once, with the newest client
    recorder.record("ann", "browser", Client.of("203.0.113.3", "Chrome"))
    recorder.flush()
    rows = {row.path: row for row in Activity(database).of_user("ann")}
    assert set(rows) == {"browser", "app_password"}
    assert (rows["browser"].client_address, rows["browser"].user_agent) == ("203.0.113.3", "Chrome")
    assert Activity(database).recent(path="app_password")[1] == 1


def test_client_values_are_bounded_and_cleaned():
    client = Client.of("  192.0.2.1\x00 ", "x" * 1000 + "\n")
    assert client.address == "192.0.2.1"
    assert client.user_agent == "x" * 255
    assert Client.of("", "\t") == Client()


def test_a_failed_write_is_dropped_not_raised(tmp_path):
    broken = Database(f"sqlite:///{tmp_path / 'no-tables.db'}")  # no migrations: no table
    try:
        recorder = _recorder(broken, Clock())
        recorder.record("ann", "browser")
        assert recorder.flush() == 0 and recorder.writes == 0
    finally:
        broken.dispose()


def test_figures_count_in_one_query(database):
    recorder = _recorder(database, Clock())
    recorder.record("ann", "browser")
    recorder.flush()
    figures = Activity(database).figures(["ann", "bob"])
    assert figures["ann"].last_activity is not None and figures["ann"].sessions == 0
    assert figures["bob"].last_activity is None and figures["bob"].app_passwords == 0
