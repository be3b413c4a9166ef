"""Claiming outbox rows under a lease, safely across threads, processes and replicas.

A row is claimable when it is pending, due (``next_attempt_at`` has come), not under a live
lease, and the **earliest pending row of its user**. The last condition gives both promises at
once: a user's rows go out in id order, and never two of one user's rows are in flight (a
claimed row stays pending until it is delivered, so the user's next row is not the earliest).

Two ways to claim, chosen by dialect (:func:`default_strategy`), both tested on PostgreSQL and
MariaDB:

* ``skip_locked`` (PostgreSQL, MariaDB/MySQL): ``SELECT ... FOR UPDATE SKIP LOCKED`` picks rows
  no other claimer holds, and an UPDATE in the same transaction writes the lease;
* ``conditional`` (SQLite, and anything else): a plain SELECT finds candidates, and an UPDATE
  that repeats the "free and due" conditions takes them; a row another claimer took in between
  fails those conditions and is simply not ours (SQLite runs one writer at a time).

In both, the lease is written with a token unique to this claim round, and the rows are read
back by that token, so a claimer only ever works on rows it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, exists, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from gateway.storage import workqueue
from gateway.storage.outbox import PENDING, RegistryOutboxEntry

TABLE = cast(Table, RegistryOutboxEntry.__table__)
SKIP_LOCKED = "skip_locked"
CONDITIONAL = "conditional"
STRATEGIES = (SKIP_LOCKED, CONDITIONAL)


@dataclass(frozen=True)
class ClaimedRow:
    """A row this claimer holds until ``claimed_until``."""

    id: int
    username: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    claimed_by: str
    claimed_until: datetime


def default_strategy(dialect_name: str) -> str:
    """``skip_locked`` where the database has ``SKIP LOCKED``, ``conditional`` otherwise."""
    return SKIP_LOCKED if dialect_name in ("postgresql", "mysql", "mariadb") else CONDITIONAL


def claim(
    engine: Engine, token: str, now: datetime, until: datetime, limit: int, strategy: str
) -> list[ClaimedRow]:
    """Lease up to ``limit`` claimable rows (oldest first) to ``token`` until ``until``.

    Returns the rows now held. A lock conflict the database resolves by aborting this claim (a
    deadlock on MariaDB, a busy SQLite) claims nothing this round rather than raising.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown claim strategy {strategy!r}")
    try:
        with connect(engine) as connection:
            if strategy == SKIP_LOCKED:
                with connection.begin():
                    ids = list(
                        connection.scalars(_claimable(now).limit(limit).with_for_update(skip_locked=True))
                    )
                    _take(connection, ids, token, now, until)
            else:
                with connection.begin():
                    ids = list(connection.scalars(_claimable(now).limit(limit)))
                with connection.begin():
                    _take(connection, ids, token, now, until)
            with connection.begin():
                rows = connection.execute(
                    select(TABLE).where(TABLE.c.claimed_by == token).order_by(TABLE.c.id)
                ).mappings()
                return [
                    ClaimedRow(
                        id=row["id"],
                        username=row["username"],
                        kind=row["kind"],
                        payload=row["payload"],
                        attempts=row["attempts"],
                        claimed_by=row["claimed_by"],
                        claimed_until=row["claimed_until"],
                    )
                    for row in rows
                ]
    except OperationalError as error:
        if is_lock_conflict(error):
            return []
        raise


def free_and_due(now: datetime):
    """The condition of an outbox row that nobody holds and whose time has come."""
    return workqueue.free_and_due(TABLE, now)


def _claimable(now: datetime):
    earlier = TABLE.alias("earlier")
    is_first_of_user = ~exists().where(
        earlier.c.username == TABLE.c.username,
        earlier.c.state == PENDING,
        earlier.c.id < TABLE.c.id,
    )
    return select(TABLE.c.id).where(free_and_due(now), is_first_of_user).order_by(TABLE.c.id)


def _take(connection: Connection, ids: list[int], token: str, now: datetime, until: datetime) -> None:
    if not ids:
        return
    connection.execute(
        update(TABLE)
        .where(TABLE.c.id.in_(ids), free_and_due(now))
        .values(claimed_by=token, claimed_until=until)
    )


def connect(engine: Engine) -> Connection:
    """A connection for outbox bookkeeping: READ COMMITTED on MariaDB/MySQL, the default
    elsewhere (READ COMMITTED on PostgreSQL; SQLite serialises writers)."""
    connection = engine.connect()
    if engine.dialect.name in ("mysql", "mariadb"):
        # Under REPEATABLE READ, InnoDB keeps locks on every row (and gap) a locking read or
        # an UPDATE/DELETE scanned, and deliverers deadlock on each other's gaps.
        connection = connection.execution_options(isolation_level="READ COMMITTED")
    return connection


def is_lock_conflict(error: OperationalError) -> bool:
    """Whether the database aborted a statement over locks (worth simply trying again)."""
    text = str(error.orig).lower()
    return "deadlock" in text or "lock wait timeout" in text or "database is locked" in text
