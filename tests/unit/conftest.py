"""Fixtures for unit tests: a migrated SQLite database in a temp file (no sockets)."""

from __future__ import annotations

import pytest

from gateway.storage.db import Database


@pytest.fixture
def database(tmp_path):
    """A fresh gateway database with every migration applied."""
    db = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    db.upgrade()
    yield db
    db.dispose()
