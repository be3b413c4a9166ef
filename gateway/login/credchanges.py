"""Credential changes: the record every process's verified-credentials cache
(:mod:`gateway.login.credcache`) reads to forget, at once, logins proven before a change.

A row says: what was proven about this user (everyone, for NULL) must be proven again. Rows are
written in the transaction of the change itself wherever the change is made in the gateway's
database (:func:`record_change`), so no commit can make a change without its row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

from sqlalchemy import Table, delete, event, func, insert, or_, select
from sqlalchemy.orm import Session

from gateway.storage.db import Database
from gateway.storage.models import CredentialChange
from gateway.storage.state.signal import SharedCounter
from providers.sql import utcnow

_CHANGES = cast(Table, CredentialChange.__table__)
# Rows older than this are deleted (a process that has not read them for minutes forgets its
# whole cache anyway, see gateway.login.credcache).
KEEP_CHANGES = timedelta(hours=1)


def record_change(session: Session, username: str | None) -> None:
    """Note, in ``session``'s transaction, that ``username``'s proven credentials (everyone's
    for None) must be proven again; on the embedded database, also bump the machine's change
    signal once the transaction has committed."""
    session.execute(insert(_CHANGES).values(username=username, changed_at=utcnow()))
    signal = _SIGNALS.get(str(session.get_bind().engine.url))
    if signal is not None:
        event.listen(session, "after_commit", lambda _session: signal.bump(), once=True)


_SIGNALS: dict[str, SharedCounter] = {}


def change_signal(database: Database, path: Path) -> SharedCounter:
    """The counter in ``path`` (in the instance directory, shared by every process of this
    gateway on this machine), bumped after each committed change to ``database`` made in this
    process: a free "anything new?" for the caches of every worker here
    (:mod:`gateway.storage.state.signal`). Replicas elsewhere see the change at their next poll."""
    key = str(database.engine.url)
    signal = _SIGNALS.get(key)
    if signal is None or signal.path != str(path):
        signal = _SIGNALS[key] = SharedCounter(path)
    return signal


class CredentialChanges:
    """Reads and writes the ``credential_changes`` rows."""

    def __init__(self, database: Database):
        self._db = database

    def since(self, moment: datetime, after_id: int) -> list[tuple[int, str | None]]:
        """(id, username) of every row written at or after ``moment`` or with an id above
        ``after_id``, oldest first.

        By time and by id: ids are handed out when a row is inserted, but the rows of concurrent
        transactions become visible in commit order, so a reader that kept only the highest id
        seen could skip a row committed late; and ``changed_at`` is the writer's clock, so a
        reader whose clock runs ahead could find a new row already outside its window.
        """
        with self._db.engine.connect() as connection:
            rows = connection.execute(
                select(_CHANGES.c.id, _CHANGES.c.username)
                .where(or_(_CHANGES.c.changed_at >= moment, _CHANGES.c.id > after_id))
                .order_by(_CHANGES.c.id)
            ).all()
        return [(row.id, row.username) for row in rows]

    def newest_id(self) -> int:
        """The highest row id there is (0 for none)."""
        with self._db.engine.connect() as connection:
            return connection.execute(select(func.max(_CHANGES.c.id))).scalar() or 0

    def prune(self) -> None:
        with self._db.session() as session:
            session.execute(delete(_CHANGES).where(_CHANGES.c.changed_at < utcnow() - KEEP_CHANGES))
