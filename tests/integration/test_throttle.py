"""AccountThrottle over both state stores (MemoryStore and a real Redis): free failures, then
an exponential lock-out capped at max_delay, reset on success, per-account, blind to whether an
account exists, shared between instances on one Redis, and stepping aside when Redis hangs.

Integration tests: they talk to a real redis-server.
"""

from __future__ import annotations

import time
import uuid

import pytest

from gateway.state import MemoryStore, RedisStore
from gateway.throttle import AccountThrottle, ThrottleSettings
from tests.servers import RedisServer

pytestmark = pytest.mark.integration

SETTINGS = ThrottleSettings(free_failures=3, base_delay_seconds=0.1, max_delay_seconds=0.4,
                            window_seconds=60)


@pytest.fixture(params=["memory", "redis"])
def store(request):
    if request.param == "memory":
        return MemoryStore()
    return RedisStore.from_url(request.getfixturevalue("redis_server").url)


@pytest.fixture
def name():
    """Account names unique to this test (Redis is shared by the session)."""
    suffix = uuid.uuid4().hex[:12]
    return lambda base: f"{base}-{suffix}"


def test_free_failures_then_exponential_lockout_capped(store, name):
    throttle = AccountThrottle(store, SETTINGS)
    user = name("alice")
    assert throttle.wait_seconds(user) == 0.0
    delays = [throttle.record_failure(user) for _ in range(7)]
    assert delays == [0.0, 0.0, 0.0, 0.1, 0.2, 0.4, 0.4]
    wait = throttle.wait_seconds(user)
    assert 0.0 < wait <= 0.4


def test_lockout_ends_after_its_delay(store, name):
    throttle = AccountThrottle(store, SETTINGS)
    user = name("alice")
    for _ in range(3):
        assert throttle.wait_seconds(user) == 0.0
        throttle.record_failure(user)
    assert throttle.record_failure(user) == 0.1
    assert 0.0 < throttle.wait_seconds(user) <= 0.1
    time.sleep(0.15)
    assert throttle.wait_seconds(user) == 0.0
    # The count is kept (within the window): the next failure doubles the delay.
    assert throttle.record_failure(user) == 0.2


def test_success_resets(store, name):
    throttle = AccountThrottle(store, SETTINGS)
    user = name("alice")
    for _ in range(5):
        throttle.record_failure(user)
    assert throttle.wait_seconds(user) > 0
    throttle.record_success(user)
    assert throttle.wait_seconds(user) == 0.0
    assert [throttle.record_failure(user) for _ in range(4)] == [0.0, 0.0, 0.0, 0.1]


def test_accounts_are_isolated(store, name):
    throttle = AccountThrottle(store, SETTINGS)
    alice, bob = name("alice"), name("bob")
    for _ in range(5):
        throttle.record_failure(alice)
    assert throttle.wait_seconds(alice) > 0
    assert throttle.wait_seconds(bob) == 0.0
    assert throttle.record_failure(bob) == 0.0
    throttle.record_success(bob)
    assert throttle.wait_seconds(alice) > 0


def test_unknown_usernames_are_throttled_like_known_ones(store, name):
    # The throttle never looks users up: an account that exists and one that does not give
    # the same sequence, so lock-outs reveal nothing about who exists.
    throttle = AccountThrottle(store, SETTINGS)
    known = [throttle.record_failure(name("alice")) for _ in range(6)]
    unknown = [throttle.record_failure(name("no-such-user-zq")) for _ in range(6)]
    assert known == unknown == [0.0, 0.0, 0.0, 0.1, 0.2, 0.4]
    assert throttle.wait_seconds(name("no-such-user-zq")) > 0


def test_failure_window_forgets_old_failures(store, name):
    throttle = AccountThrottle(store, ThrottleSettings(
        free_failures=2, base_delay_seconds=0.1, max_delay_seconds=1, window_seconds=0.3))
    user = name("alice")
    assert [throttle.record_failure(user) for _ in range(2)] == [0.0, 0.0]
    time.sleep(0.4)
    assert [throttle.record_failure(user) for _ in range(3)] == [0.0, 0.0, 0.1]


def test_two_instances_on_one_redis_share_counts(redis_server, name):
    # Two workers or replicas: separate clients, separate throttles, one Redis.
    first = AccountThrottle(RedisStore.from_url(redis_server.url), SETTINGS)
    second = AccountThrottle(RedisStore.from_url(redis_server.url), SETTINGS)
    user = name("alice")
    assert first.record_failure(user) == 0.0
    assert second.record_failure(user) == 0.0
    assert first.record_failure(user) == 0.0
    assert second.record_failure(user) == 0.1
    assert first.wait_seconds(user) > 0
    first.record_success(user)
    assert second.wait_seconds(user) == 0.0


def test_paused_redis_makes_the_throttle_count_in_process(tmp_path, name):
    server = RedisServer.start(tmp_path / "redis")
    try:
        throttle = AccountThrottle(RedisStore.from_url(server.url), SETTINGS)
        user = name("alice")
        for _ in range(4):
            throttle.record_failure(user)
        assert throttle.wait_seconds(user) > 0
        server.pause()
        try:
            for call, expected in [(throttle.wait_seconds, 0.0), (throttle.record_failure, 0.0),
                                   (throttle.record_success, None)]:
                started = time.monotonic()
                assert call(user) == expected
                assert time.monotonic() - started < 2.0
            # Still throttled meanwhile: this process counts on its own (the fourth failure
            # starts a lock-out).
            assert [throttle.record_failure(user) for _ in range(4)][-1] > 0
        finally:
            server.resume()
        # Commands sent during the hang may still run when the server wakes up; let them.
        time.sleep(0.2)
        # Counting again once Redis answers.
        throttle.record_success(user)
        assert [throttle.record_failure(user) for _ in range(4)] == [0.0, 0.0, 0.0, 0.1]
        assert throttle.wait_seconds(user) > 0
    finally:
        server.resume()
        server.stop()
