"""A policy save runs its ``also`` hook in the saving transaction: what the hook records (the
Registry writes the new policy causes) commits with the new version or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from gateway.mapping import parse_policy
from gateway.mapping.store import PolicyStore
from gateway.registry.outbox import enqueue
from gateway.registry.outboxwriter import SET_METADATA
from gateway.storage.outbox import RegistryOutboxEntry

PILOTS = {"rules": [{"name": "pilots", "match": {"group": "pilots"}, "roles": ["pilot"]}]}


def _store(database) -> PolicyStore:
    return PolicyStore(database, "database", None, parse_policy(None, "test"))


def _queued(database) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(RegistryOutboxEntry))


def test_what_the_hook_queues_commits_with_the_save(database):
    store = _store(database)
    saved = store.save(
        PILOTS, by="alice", also=lambda session: enqueue(session, "ann", SET_METADATA, {"roles": ["pilot"]})
    )
    assert saved.version == 2
    assert _queued(database) == 1


def test_a_failing_hook_saves_nothing(database):
    store = _store(database)

    def refuse(session):
        enqueue(session, "ann", SET_METADATA, {"roles": ["pilot"]})
        raise RuntimeError("the hook failed")

    with pytest.raises(RuntimeError):
        store.save(PILOTS, by="alice", also=refuse)
    assert _queued(database) == 0
    assert _store(database).current().version == 1
