"""Unit tests (no sockets): the in-process store stays bounded."""

from gateway.storage.state.memory import MemoryStore


def test_expired_entries_are_swept_as_the_table_grows():
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0])
    for i in range(MemoryStore.SWEEP_AT):
        store.incr(f"old-{i}", 1)
    now[0] = 2.0
    for i in range(MemoryStore.SWEEP_AT + 1):
        store.incr(f"new-{i}", 1)
    assert len(store._data) <= MemoryStore.SWEEP_AT + 1


def test_a_capped_store_forgets_its_oldest_live_entries():
    store = MemoryStore(max_entries=12_000)
    for i in range(60_000):
        store.incr(f"name-{i}", 3600)
    assert len(store._data) <= 12_000
    assert store.get("name-59999") == "1" and store.get("name-0") is None
