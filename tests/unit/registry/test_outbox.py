"""Unit tests (SQLite, no sockets): the Registry outbox with a fake writer."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from gateway.registry.orgqueue import queue_organizations
from gateway.registry.outbox import enqueue, register_waiter, status, unregister_waiter
from gateway.registry.outboxclaim import CONDITIONAL, claim
from gateway.registry.outboxdelivery import UNKNOWN_USER_DELAYS, Backoff, Deliverer
from gateway.registry.outboxwriter import (
    DELETE_USER,
    SET_METADATA,
    SET_ORGANIZATIONS,
    PermanentWriteError,
    RetryableWriteError,
    UnknownRegistryUser,
)
from gateway.registry.push import RegistryPush
from gateway.storage.outbox import DROPPED, FAILED, PENDING, RegistryOutboxEntry
from gateway.storage.registrystate import RegistryOrgTarget

PUSH = RegistryPush(enabled=True)


class FakeWriter:
    """Records every write; ``outcomes[username]`` is a list of exceptions to raise first."""

    def __init__(self):
        self.calls: list[tuple[str, str, dict]] = []
        self.outcomes: dict[str, list[Exception]] = {}

    def _write(self, kind, username, payload):
        queued = self.outcomes.get(username)
        if queued:
            raise queued.pop(0)
        self.calls.append((kind, username, payload))

    def set_metadata(self, username, payload):
        self._write(SET_METADATA, username, payload)

    def delete_user(self, username, payload):
        self._write(DELETE_USER, username, payload)

    def set_organizations(self, username, payload):
        self._write(SET_ORGANIZATIONS, username, payload)


class Clock:
    """A settable clock a little ahead of real time, so rows enqueued in the test are due."""

    def __init__(self):
        self.now = datetime.now(UTC) + timedelta(seconds=2)

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def writer():
    return FakeWriter()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def deliverer(database, writer, clock):
    return Deliverer(database, writer, clock=clock)


def put(database, username, kind=SET_METADATA, payload=None):
    with database.session() as session:
        enqueue(session, username, kind, payload if payload is not None else {"roles": ["user"]})


def rows(database):
    with database.session() as session:
        return session.scalars(select(RegistryOutboxEntry).order_by(RegistryOutboxEntry.id)).all()


def test_an_intent_commits_and_rolls_back_with_the_change(database):
    put(database, "alice")
    with pytest.raises(RuntimeError), database.session() as session:
        enqueue(session, "bob", SET_METADATA, {"roles": []})
        raise RuntimeError("the change failed")
    assert [row.username for row in rows(database)] == ["alice"]


def test_unknown_kinds_and_non_object_payloads_are_refused(database):
    with database.session() as session:
        with pytest.raises(ValueError):
            enqueue(session, "alice", "set_password", {})
        with pytest.raises(TypeError):
            enqueue(session, "alice", SET_METADATA, ["admin"])


def test_a_new_intent_replaces_the_pending_ones_of_the_same_user_and_kind(database):
    put(database, "alice", payload={"roles": ["user"]})
    put(database, "alice", SET_ORGANIZATIONS, {"organizations": {"pilots": 1}})
    put(database, "bob", payload={"roles": ["user"]})
    put(database, "alice", payload={"roles": ["deactivated"]})
    assert [(row.username, row.kind, row.payload) for row in rows(database)] == [
        ("alice", SET_ORGANIZATIONS, {"organizations": {"pilots": 1}}),
        ("bob", SET_METADATA, {"roles": ["user"]}),
        ("alice", SET_METADATA, {"roles": ["deactivated"]}),
    ]


def test_a_claimed_intent_is_not_replaced(database, clock):
    put(database, "alice", payload={"roles": ["user"]})
    held = claim(database.engine, "other", clock(), clock() + timedelta(seconds=60), 10, CONDITIONAL)
    assert len(held) == 1
    put(database, "alice", payload={"roles": ["deactivated"]})
    assert [row.payload for row in rows(database)] == [{"roles": ["user"]}, {"roles": ["deactivated"]}]


def test_each_users_writes_go_out_in_order(database, writer, deliverer):
    put(database, "alice", payload={"step": 1})
    put(database, "bob", payload={"step": 1})
    put(database, "alice", SET_ORGANIZATIONS, {"step": 2})
    put(database, "alice", DELETE_USER, {"step": 3})
    put(database, "bob", DELETE_USER, {"step": 2})

    report = deliverer.run_once()

    assert report.delivered == 5
    assert [p["step"] for _, user, p in writer.calls if user == "alice"] == [1, 2, 3]
    assert [p["step"] for _, user, p in writer.calls if user == "bob"] == [1, 2]
    assert rows(database) == []


def test_one_claim_holds_at_most_one_row_per_user_and_only_the_earliest(database, clock):
    put(database, "alice", payload={"step": 1})
    put(database, "alice", SET_ORGANIZATIONS, {"step": 2})
    put(database, "bob", payload={"step": 1})
    until = clock() + timedelta(seconds=60)

    first = claim(database.engine, "one", clock(), until, 10, CONDITIONAL)
    second = claim(database.engine, "two", clock(), until, 10, CONDITIONAL)

    assert [(row.username, row.payload["step"]) for row in first] == [("alice", 1), ("bob", 1)]
    assert second == []  # alice's second row waits for her first


def test_a_retryable_error_backs_off_and_holds_back_the_users_later_writes(database, writer, clock):
    deliverer = Deliverer(database, writer, clock=clock, backoff=Backoff(base=5, cap=600))
    put(database, "alice", payload={"step": 1})
    put(database, "alice", DELETE_USER, {"step": 2})
    put(database, "bob")
    writer.outcomes["alice"] = [RetryableWriteError("Registry unreachable: connection refused")]

    report = deliverer.run_once()

    assert (report.retried, report.delivered) == (1, 1)
    [first, second] = rows(database)
    assert first.attempts == 1 and first.state == PENDING and first.claimed_by is None
    assert first.last_error == "Registry unreachable: connection refused"
    assert clock() + timedelta(seconds=2.5) <= first.next_attempt_at <= clock() + timedelta(seconds=5)
    assert deliverer.run_once().handled == 0  # not due yet, and step 2 waits behind it

    clock.advance(5)
    assert deliverer.run_once().delivered == 2
    assert [p.get("step") for _, user, p in writer.calls if user == "alice"] == [1, 2]


def test_any_unexpected_error_is_retried_too(database, writer, deliverer):
    put(database, "alice")
    writer.outcomes["alice"] = [TimeoutError()]
    assert deliverer.run_once().retried == 1
    assert rows(database)[0].last_error == "TimeoutError"


def test_backoff_doubles_with_jitter_up_to_its_cap():
    backoff = Backoff(base=5, cap=600)
    for failures, ceiling in [(1, 5), (2, 10), (3, 20), (8, 600), (60, 600), (10_000, 600)]:
        delays = [backoff.delay(failures) for _ in range(50)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 1


def test_a_permanent_error_marks_the_row_failed_and_the_user_goes_on(database, writer, deliverer):
    put(database, "alice", payload={"step": 1})
    put(database, "alice", SET_ORGANIZATIONS, {"step": 2})
    writer.outcomes["alice"] = [PermanentWriteError("Invalid metadata: roles")]

    report = deliverer.run_once()

    assert (report.failed, report.delivered) == (1, 1)
    [failed] = rows(database)
    assert (failed.state, failed.last_error, failed.attempts) == (FAILED, "Invalid metadata: roles", 1)
    current = status(database.sessions())
    assert current.failed == 1 and current.pending == 0
    assert current.failed_writes[0].error == "Invalid metadata: roles"


def test_a_later_delivered_state_clears_an_earlier_failure_of_the_same_kind(database, writer, deliverer):
    put(database, "alice", payload={"step": 1})
    writer.outcomes["alice"] = [PermanentWriteError("refused")]
    deliverer.run_once()
    put(database, "alice", payload={"step": 2})
    assert deliverer.run_once().delivered == 1
    assert rows(database) == []


def test_a_write_for_a_user_the_registry_does_not_know_is_dropped(database, writer, deliverer):
    put(database, "ghost")
    writer.outcomes["ghost"] = [UnknownRegistryUser("GET /users/ghost: 404")]

    assert deliverer.run_once().dropped == 1
    assert deliverer.run_once().handled == 0
    [dropped] = rows(database)
    assert (dropped.state, dropped.last_error) == (DROPPED, "GET /users/ghost: 404")
    assert status(database.sessions()).dropped == 1


def test_organizations_for_a_user_not_yet_known_are_tried_again_within_seconds(database, writer, clock):
    """A first sign-in queues them before the Registry has made the account (it does so once
    the gateway has answered): a few short retries, not a drop."""
    deliverer = Deliverer(database, writer, clock=clock)
    with database.session() as session:
        assert queue_organizations(session, PUSH, "newbie", {"pilots": 1})
    writer.outcomes["newbie"] = [UnknownRegistryUser("Cannot find user newbie")]

    assert deliverer.run_once().retried == 1
    [waiting] = rows(database)
    assert (waiting.state, waiting.attempts) == (PENDING, 1)
    assert waiting.next_attempt_at <= clock() + timedelta(seconds=UNKNOWN_USER_DELAYS[0])
    clock.advance(UNKNOWN_USER_DELAYS[0])
    assert deliverer.run_once().delivered == 1
    assert writer.calls == [(SET_ORGANIZATIONS, "newbie", {"organizations": {"pilots": 1}})]


def test_dropped_organizations_are_forgotten_so_the_next_sign_in_queues_them_again(database, writer, clock):
    deliverer = Deliverer(database, writer, clock=clock)
    with database.session() as session:
        assert queue_organizations(session, PUSH, "ghost", {"pilots": 1})
    writer.outcomes["ghost"] = [UnknownRegistryUser("Cannot find user ghost")] * (
        len(UNKNOWN_USER_DELAYS) + 1
    )

    for delay in UNKNOWN_USER_DELAYS:
        assert deliverer.run_once().retried == 1
        clock.advance(delay)
    assert deliverer.run_once().dropped == 1
    with database.session() as session:
        assert session.get(RegistryOrgTarget, "ghost") is None
        assert queue_organizations(session, PUSH, "ghost", {"pilots": 1})  # not taken as delivered


def test_a_dropped_metadata_write_keeps_the_organizations_target(database, writer, deliverer):
    with database.session() as session:
        queue_organizations(session, PUSH, "ghost", {"pilots": 1})
    assert deliverer.run_once().delivered == 1
    put(database, "ghost")
    writer.outcomes["ghost"] = [UnknownRegistryUser("Cannot find user ghost")]
    assert deliverer.run_once().dropped == 1
    with database.session() as session:
        assert session.get(RegistryOrgTarget, "ghost") is not None


def test_a_dead_deliverers_lease_is_retaken_once_it_expires(database, writer, clock):
    put(database, "alice")
    dead = claim(database.engine, "dead-process", clock(), clock() + timedelta(seconds=60), 10, CONDITIONAL)
    assert len(dead) == 1

    survivor = Deliverer(database, writer, clock=clock, lease_seconds=60)
    assert survivor.run_once().handled == 0
    clock.advance(61)
    assert survivor.run_once().delivered == 1
    assert writer.calls == [(SET_METADATA, "alice", {"roles": ["user"]})]


def test_a_row_whose_lease_is_nearly_over_is_released_and_written_under_a_fresh_claim(
    database, writer, clock
):
    put(database, "alice")
    steps = iter([0, 50])  # claimed at t, about to write at t + 50 of a 60 s lease

    def slow_clock():
        return clock() + timedelta(seconds=next(steps, 50))

    report = Deliverer(database, writer, clock=slow_clock, lease_seconds=60).run_once()

    assert (report.released, report.delivered) == (1, 1)
    assert len(writer.calls) == 1 and rows(database) == []


def test_a_deliverer_finishes_only_rows_it_still_holds(database, writer, clock):
    put(database, "alice")
    slow = Deliverer(database, writer, clock=clock, lease_seconds=60)
    [row] = slow._claim()
    clock.advance(61)
    other = Deliverer(database, FakeWriter(), clock=clock)
    assert other.run_once().delivered == 1
    put(database, "alice", payload={"roles": ["deactivated"]})
    slow._done(row)  # the stale claim's outcome must not delete the newer row
    assert [r.payload for r in rows(database)] == [{"roles": ["deactivated"]}]


def test_an_enqueue_wakes_this_processs_deliverers_when_it_commits(database):
    wakeup = threading.Event()
    register_waiter(wakeup)
    try:
        with database.session() as session:
            enqueue(session, "alice", SET_METADATA, {"roles": []})
            assert not wakeup.is_set()
        assert wakeup.is_set()
    finally:
        unregister_waiter(wakeup)


def test_the_background_thread_delivers_promptly_after_an_enqueue(database, writer):
    deliverer = Deliverer(database, writer, poll_interval=60)
    deliverer.start()
    try:
        time.sleep(0.2)  # its first pass found nothing; now it waits up to 60 s
        put(database, "alice")
        deadline = time.monotonic() + 30  # promptly: long before the 60 s poll, even on a loaded machine
        while not writer.calls and time.monotonic() < deadline:
            time.sleep(0.02)
        assert writer.calls == [(SET_METADATA, "alice", {"roles": ["user"]})]
    finally:
        deliverer.stop()


def test_status_counts_and_ages(database, writer, clock):
    assert status(database.sessions()).pending == 0
    assert status(database.sessions()).oldest_pending_age_seconds is None
    put(database, "alice")
    put(database, "bob")
    writer.outcomes["alice"] = [RetryableWriteError("503 from the Registry")]
    writer.outcomes["bob"] = [RetryableWriteError("503 from the Registry")]
    Deliverer(database, writer, clock=clock).run_once()

    current = status(database.sessions(), now=datetime.now(UTC) + timedelta(seconds=30))
    assert (current.pending, current.retrying, current.failed) == (2, 2, 0)
    assert 29 <= current.oldest_pending_age_seconds <= 31
    assert current.last_retry_error == "503 from the Registry"
    assert current.as_dict()["oldestPendingAgeSeconds"] == current.oldest_pending_age_seconds
