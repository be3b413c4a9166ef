"""Unit tests (no sockets; temp SQLite files): the exact read cache never serves stale data."""

from __future__ import annotations

import sqlite3
import threading

from sqlalchemy import create_engine

from gateway.storage.readcache import CommitWatch, ExactReadCache, exact_cache_for


def _db(tmp_path):
    path = tmp_path / "c.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("create table t (k text primary key, v text)")
    writer.execute("insert into t values ('a', 'one')")
    return path, writer


def test_a_commit_by_another_connection_empties_the_cache(tmp_path):
    path, writer = _db(tmp_path)
    cache = ExactReadCache(CommitWatch(str(path)))
    reads = []

    def load():
        reader = sqlite3.connect(path)
        value = reader.execute("select v from t where k='a'").fetchone()[0]
        reads.append(value)
        return value

    assert cache.get("a", load) == "one"
    assert cache.get("a", load) == "one"
    assert reads == ["one"]  # second read served from memory
    writer.execute("update t set v='two' where k='a'")
    assert cache.get("a", load) == "two"  # the commit was seen at once
    assert reads == ["one", "two"]


def test_a_value_read_before_a_commit_is_not_stored_after_it(tmp_path):
    path, writer = _db(tmp_path)
    cache = ExactReadCache(CommitWatch(str(path)))
    cache.get("warm", lambda: "x")
    read_started, may_finish = threading.Event(), threading.Event()

    def slow_stale_load():
        read_started.set()
        may_finish.wait(5)
        return "stale"

    worker = threading.Thread(target=lambda: cache.get("a", slow_stale_load))
    worker.start()
    read_started.wait(5)
    writer.execute("update t set v='new' where k='a'")
    assert cache.get("other", lambda: "y") == "y"  # this thread notices the commit, empties
    may_finish.set()
    worker.join(5)
    assert cache.get("a", lambda: "fresh") == "fresh"


def test_none_is_never_cached(tmp_path):
    path, _ = _db(tmp_path)
    cache = ExactReadCache(CommitWatch(str(path)))
    assert cache.get("missing", lambda: None) is None
    assert cache.get("missing", lambda: "now-there") == "now-there"


def test_only_file_backed_sqlite_gets_a_cache(tmp_path):
    assert exact_cache_for(create_engine(f"sqlite:///{tmp_path}/x.db")) is not None
    assert exact_cache_for(create_engine("sqlite://")) is None
    assert exact_cache_for(create_engine("postgresql+psycopg://u@127.0.0.1:1/db")) is None
