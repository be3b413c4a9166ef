"""Named leases in the database: one holder at a time for a periodic job across replicas.

:func:`take_lease` gives the lease to ``holder`` when it is free (never taken, or its time has
passed), for ``seconds`` from ``now``; a holder whose lease is still running does not get it
again either, so a job guarded by it runs at most once per lease. It works the same on SQLite,
PostgreSQL and MariaDB: a conditional UPDATE takes an existing row, an INSERT creates a new
one, and of two replicas inserting at once the second fails on the primary key and loses.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from gateway.storage.db import Database
from gateway.storage.registrystate import JobLease


def take_lease(database: Database, name: str, holder: str, seconds: float, now: datetime) -> bool:
    """True when ``holder`` now holds the lease ``name`` until ``now + seconds``."""
    until = now + timedelta(seconds=seconds)
    with database.session() as session:
        taken = session.execute(
            update(JobLease)
            .where(JobLease.name == name, JobLease.until <= now)
            .values(holder=holder, until=until)
        )
        if getattr(taken, "rowcount", 0) == 1:
            return True
        if session.get(JobLease, name) is not None:
            return False  # still held
    try:
        with database.session() as session:
            session.add(JobLease(name=name, holder=holder, until=until))
        return True
    except IntegrityError:
        return False
