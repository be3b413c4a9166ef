"""State stores: one conformance suite run against MemoryStore and a real Redis (RedisStore),
plus RedisStore's behaviour when its server hangs (SIGSTOP) or dies.

Integration tests: they talk to a real redis-server (the shared ``redis_server`` fixture, and
for the outage tests a private one started in the test so that pausing it cannot hang the
rest of the session).
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from gateway.storage.state import MemoryStore, RedisStore, SqliteStore, StoreUnavailable
from tests.support.servers import RedisServer, free_port

pytestmark = pytest.mark.integration


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request, tmp_path):
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "sqlite":
        yield SqliteStore(tmp_path / "state.db")
        return
    redis_server = request.getfixturevalue("redis_server")
    yield RedisStore.from_url(redis_server.url)


@pytest.fixture
def k():
    """A key maker unique to this test, so tests never see each other's keys in Redis."""
    prefix = f"test:{uuid.uuid4().hex}:"
    return lambda name: prefix + name


# ---- conformance -------------------------------------------------------------------------


def test_get_of_an_absent_key_is_none(store, k):
    assert store.get(k("absent")) is None


# Time-to-live of a second and more: the read right after a write must come before the expiry
# even when a loaded machine stalls the test (or Redis) for a few tenths of a second.


def test_set_then_get_then_expiry(store, k):
    store.set(k("a"), "one", 1.0)
    assert store.get(k("a")) == "one"
    time.sleep(1.1)
    assert store.get(k("a")) is None


def test_set_overwrites_value_and_ttl(store, k):
    store.set(k("a"), "one", 1.0)
    store.set(k("a"), "two", 5)
    time.sleep(1.1)
    assert store.get(k("a")) == "two"


def test_values_round_trip_as_strings(store, k):
    for i, value in enumerate(["", "1712345678.25", "ünïcode ✈", "a b\nc"]):
        store.set(k(f"v{i}"), value, 5)
        assert store.get(k(f"v{i}")) == value


def test_add_only_if_absent(store, k):
    assert store.add(k("a"), "first", 1.0) is True
    assert store.add(k("a"), "second", 1.0) is False
    assert store.get(k("a")) == "first"
    time.sleep(1.1)
    assert store.add(k("a"), "third", 5) is True  # expired entries count as absent
    assert store.get(k("a")) == "third"


def test_add_from_eight_threads_succeeds_exactly_once(store, k):
    """What makes an SSO callback single-use on every worker: one set-if-absent wins."""
    for round_ in range(5):
        key = k(f"mark{round_}")
        barrier = threading.Barrier(8)
        results: list = []
        lock = threading.Lock()

        def worker(barrier, key, lock, results):
            barrier.wait()
            added = store.add(key, "used", 5)
            with lock:
                results.append(added)

        threads = [threading.Thread(target=worker, args=(barrier, key, lock, results)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert sorted(results) == [False] * 7 + [True], results


def test_threads_opening_a_new_sqlite_file_together_all_get_an_answer(tmp_path):
    """Switching a new file to WAL does not wait for SQLite's busy timeout: without the store's
    own retry, one thread in a few dozen rounds got "database is locked" (a CI failure)."""
    for round_ in range(40):
        store = SqliteStore(tmp_path / f"state{round_}.db")
        barrier = threading.Barrier(8)
        results: list = []

        def worker(store=store, barrier=barrier, results=results):
            barrier.wait()
            try:
                results.append(store.add("mark", "used", 5))
            except StoreUnavailable as error:
                results.append(error)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert sorted(results, key=str) == [False] * 7 + [True], (round_, results)


def test_incr_counts_from_one(store, k):
    assert [store.incr(k("n"), 5) for _ in range(4)] == [1, 2, 3, 4]
    assert store.get(k("n")) == "4"


def test_incr_sets_ttl_only_on_creation(store, k):
    assert store.incr(k("n"), 1.5) == 1
    time.sleep(0.9)
    assert store.incr(k("n"), 1.5) == 2  # must not push the expiry out
    time.sleep(0.9)  # >= 1.8 s after creation: gone, although < 1.5 s after the last incr
    assert store.get(k("n")) is None
    assert store.incr(k("n"), 1.5) == 1


def test_delete_several_keys(store, k):
    for name in ("a", "b", "c"):
        store.set(k(name), name, 5)
    store.delete(k("a"), k("b"), k("missing"))
    assert store.get(k("a")) is None
    assert store.get(k("b")) is None
    assert store.get(k("c")) == "c"
    store.delete()  # no keys: a no-op
    store.delete(k("c"))
    assert store.get(k("c")) is None


def test_ping(store):
    assert store.ping() is None


# ---- Redis outages -----------------------------------------------------------------------

CALLS = [
    ("get", lambda s: s.get("outage:a")),
    ("set", lambda s: s.set("outage:a", "v", 5)),
    ("add", lambda s: s.add("outage:b", "v", 5)),
    ("incr", lambda s: s.incr("outage:n", 5)),
    ("delete", lambda s: s.delete("outage:a", "outage:b")),
    ("ping", lambda s: s.ping()),
]


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer.start(tmp_path / "redis")
    try:
        yield server
    finally:
        server.resume()
        server.stop()


def _assert_unavailable_quickly(call, store, limit=2.0):
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        call(store)
    elapsed = time.monotonic() - started
    assert elapsed < limit, f"took {elapsed:.2f}s"


def test_paused_redis_raises_store_unavailable_within_the_timeout_then_recovers(private_redis):
    store = RedisStore.from_url(private_redis.url)
    store.ping()  # a pooled connection exists before the hang
    private_redis.pause()
    try:
        for _name, call in CALLS:
            _assert_unavailable_quickly(call, store)
    finally:
        private_redis.resume()
    # The commands sent during the hang may still run once the server wakes up; let them,
    # then check every method works again (on fresh keys).
    time.sleep(0.2)
    store.ping()
    store.set("after:a", "back", 5)
    assert store.get("after:a") == "back"
    assert store.add("after:b", "v", 5) is True
    assert store.incr("after:n", 5) == 1
    store.delete("after:b")
    assert store.get("after:b") is None


def test_killed_redis_raises_store_unavailable_quickly(private_redis):
    store = RedisStore.from_url(private_redis.url)
    store.set("outage:a", "v", 5)
    private_redis.kill()
    for _name, call in CALLS:
        _assert_unavailable_quickly(call, store, limit=1.0)


def test_unreachable_redis_at_start_raises_store_unavailable(tmp_path):
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0")
    for _name, call in CALLS:
        _assert_unavailable_quickly(call, store, limit=1.0)
