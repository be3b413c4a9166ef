"""Database engine, sessions and migrations.

Every connection has a bounded connect and statement time so that a database outage turns into
a 503 well inside the Registry's 100 s, never a hang. Statement parameters (password hashes,
token digests) are kept out of error messages, and so out of the logs.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
PREPARE_LOCK_KEY = 0x64646270  # any constant shared by every replica ("ddbp")

# Errors that mean "the database is not there" rather than "this statement is wrong".
UNAVAILABLE_ERRORS = (OperationalError, InterfaceError)


class Database:
    """Owns the engine and hands out short sessions: one unit of work each."""

    def __init__(self, url: str, *, connect_timeout: float = 3.0, statement_timeout: float = 5.0):
        self.url = url
        self.engine = _make_engine(url, connect_timeout, statement_timeout)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any exception."""
        with self.sessions() as session:
            with session.begin():
                yield session

    @contextlib.contextmanager
    def exclusive(self, key: int) -> Iterator[None]:
        """On PostgreSQL, hold the advisory lock ``key`` (waiting without the statement
        timeout) for the block, so processes starting together take turns; elsewhere, nothing."""
        if not self.url.startswith("postgresql"):
            yield
            return
        with self.engine.begin() as connection:  # the lock ends with this transaction
            connection.execute(text("SET LOCAL statement_timeout = 0"))
            advisory_lock(connection, key)
            yield

    def upgrade(self) -> None:
        """Bring the schema to the newest migration.

        Its caller (:func:`gateway.bootstrap.prepare`) holds :meth:`exclusive`, so replicas (or
        init containers) starting together take turns. On PostgreSQL a migration is not cut
        short by the 5 s statement timeout meant for requests.
        """
        from alembic import command

        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SET LOCAL statement_timeout = 0"))
            config = alembic_config(self.url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()


def advisory_lock(connection: Connection, *key: int) -> None:
    """On PostgreSQL, wait for the transaction-scoped advisory lock ``key`` (one bigint, or two
    ints: a class and an id) on ``connection``; it is held until that transaction ends.
    Elsewhere, nothing."""
    if connection.dialect.name != "postgresql":
        return
    names = [f"k{i}" for i in range(len(key))]
    connection.execute(
        text(f"SELECT pg_advisory_xact_lock({', '.join(':' + n for n in names)})"),
        dict(zip(names, key, strict=True)),
    )


def name_lock(connection: Connection, lock_class: int, name: str) -> None:
    """:func:`advisory_lock` on (``lock_class``, a 32-bit hash of ``name``): work on one name
    takes turns until the transaction ends (PostgreSQL only). Two names may share a hash and so
    wait for each other, which costs time, never correctness."""
    key = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big", signed=True)
    advisory_lock(connection, lock_class, key)


def alembic_config(url: str):
    """An Alembic configuration pointing at the bundled migrations and ``url``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _make_engine(url: str, connect_timeout: float, statement_timeout: float) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, hide_parameters=True, connect_args={"timeout": statement_timeout, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if url.startswith("postgresql"):
        return create_engine(
            url,
            hide_parameters=True,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
            pool_timeout=connect_timeout,
            connect_args={
                "connect_timeout": max(1, int(connect_timeout)),
                "options": f"-c statement_timeout={int(statement_timeout * 1000)}",
            },
        )
    return create_engine(url, hide_parameters=True, pool_pre_ping=True, pool_timeout=connect_timeout)
