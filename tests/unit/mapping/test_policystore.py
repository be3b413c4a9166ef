"""The mapping policy's home: the config file (read-only) or a versioned database row that
every process re-reads within its refresh interval."""

from __future__ import annotations

import pytest

from gateway.config.errors import ConfigError
from gateway.mapping import EvaluationMemo, parse_policy
from gateway.mapping.store import PolicyConflict, PolicyReadOnly, PolicyStore
from providers.base import Identity

PILOTS = {"rules": [{"name": "pilots", "match": {"group": "pilots"}, "roles": ["pilot"]}]}
ANN = Identity(provider="local", subject="1", username="ann", groups=("pilots",))


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _store(database, document=None, source="database", clock=None):
    return PolicyStore(
        database,
        source,
        document,
        parse_policy(document, "test"),
        refresh_seconds=1.0,
        clock=clock or Clock(),
    )


def test_the_database_is_seeded_once_from_the_config_section(database):
    store = _store(database, PILOTS)
    store.seed()
    store.seed()
    current = store.current()
    assert current.version == 1 and current.document == PILOTS
    assert current.policy.rules[0].roles == ("pilot",)
    # A later start with a different section does not overwrite what admins saved.
    assert _store(database, {"default_roles": ["x"]}).current().document == PILOTS


def test_an_empty_database_without_a_section_gets_the_empty_policy(database):
    assert _store(database).current().policy.rules == ()


def test_a_save_elsewhere_is_seen_after_the_refresh_interval(database):
    clock = Clock()
    reader, writer = _store(database, clock=clock), _store(database)
    assert reader.current().policy.rules == ()
    saved = writer.save(PILOTS, by="alice")
    assert saved.version == 2 and saved.updated_by == "alice"
    clock.now = 0.5
    assert reader.current().policy.rules == ()  # within the interval: no query
    clock.now = 1.5
    assert reader.current().version == 2
    assert reader.current().policy.rules[0].name == "pilots"


def test_a_stale_version_is_a_conflict(database):
    store = _store(database)
    version = store.current().version
    store.save(PILOTS, by="a", expected_version=version)
    with pytest.raises(PolicyConflict) as conflict:
        store.save({}, by="b", expected_version=version)
    assert conflict.value.current_version == version + 1


def test_an_invalid_document_names_the_key_and_is_not_stored(database):
    store = _store(database)
    with pytest.raises(ConfigError) as error:
        store.save({"rules": [{"name": "x", "match": {"group": "g"}, "roles": "admin"}]}, by="a")
    assert "rules[0].roles" in str(error.value)
    assert store.current().version == 1


def test_file_mode_is_read_only_and_never_touches_the_database(database):
    store = _store(database, PILOTS, source="file")
    store.seed()
    assert store.current().policy.rules[0].name == "pilots"
    with pytest.raises(PolicyReadOnly):
        store.save({}, by="a")
    with database.engine.connect() as connection:
        assert connection.exec_driver_sql("select count(*) from mapping_policy").scalar() == 0


def test_the_memo_starts_over_when_the_policy_changes(database):
    clock = Clock()
    store = _store(database, clock=clock)
    memo = EvaluationMemo(store.policy)
    assert memo.evaluate(ANN).roles == ()
    store.save(PILOTS, by="a")  # same process: in force at once
    assert memo.evaluate(ANN).roles == ("pilot",)
