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


# A local provider with cheap hashing: the admin made at startup costs milliseconds.
UNIT_CONFIG = """\
providers:
  - id: local
    type: local
    hashing: {time_cost: 1, memory_cost_kib: 8192}
"""
UNIT_ADMIN_PASSWORD = "quiet-harbour-58-lantern"


def build_unit_services(tmp_path, config: str = UNIT_CONFIG, key_encryption_key: str | None = None):
    """The gateway's services over a migrated SQLite database in ``tmp_path`` (state in a
    SQLite file there too: no Redis, no sockets), configured by ``config``, with the local
    admin made. The same ``key_encryption_key`` again restarts on the same database. The caller
    closes them."""
    from gateway.config.file import load_config
    from gateway.config.settings import Settings
    from gateway.services import build_services
    from gateway.tokens import generate_secret

    config_path = tmp_path / "gateway.yaml"
    config_path.write_text(config)
    settings = Settings(
        instance_dir=tmp_path / "instance",
        database_url=f"sqlite:///{tmp_path / 'gateway.db'}",
        config_path=config_path,
        redis_url=None,
        key_encryption_key=key_encryption_key or generate_secret(),
        admin_password=UNIT_ADMIN_PASSWORD,
        bind="127.0.0.1:0",
        workers=1,
        threads=1,
        log_level="WARNING",
        public_url="http://gateway.test",
        auto_migrate=True,
    )
    built = build_services(settings, load_config(config_path))
    built.prepare(announce=lambda _message: None)
    return built


@pytest.fixture
def services(tmp_path):
    """:func:`build_unit_services` with the unit configuration."""
    built = build_unit_services(tmp_path)
    yield built
    built.close()


@pytest.fixture
def app(services):
    """The Flask app over ``services``, in this process."""
    from gateway.app import create_app

    return create_app(services=services)


@pytest.fixture
def client(app):
    """Flask's test client for ``app``: HTTP requests without a server."""
    return app.test_client()
