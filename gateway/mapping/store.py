"""Where the mapping policy lives: the config file, or the database where admins edit it.

In ``file`` mode the config's ``mapping:`` section is the policy for the life of the process
(GitOps: change the file, restart). In ``database`` mode the policy is one versioned row; the
config's section, if any, seeds it once. Every process checks the row's version at most once per
``refresh_seconds`` (one tiny query), so a change saved on any worker or replica is in force
everywhere within that time, and the hot path never waits on more than that query.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.config.errors import ConfigError
from gateway.mapping import Policy, parse_policy
from gateway.storage.db import Database
from gateway.storage.models import MappingPolicyRow
from providers.sql import utcnow

log = logging.getLogger(__name__)
ROW_ID = 1
_TABLE = cast(Table, MappingPolicyRow.__table__)
_VERSION = select(_TABLE.c.version).where(_TABLE.c.id == ROW_ID)


class PolicyReadOnly(Exception):
    """The policy is managed by the config file; the database copy cannot be edited."""


class PolicyConflict(Exception):
    """Someone saved a newer version since the editor loaded theirs."""

    def __init__(self, current_version: int):
        super().__init__(f"the policy changed (now version {current_version}); reload and retry")
        self.current_version = current_version


@dataclass(frozen=True)
class PolicyVersion:
    """One version of the policy: parsed, as written, and who saved it when (None for a file)."""

    version: int
    policy: Policy
    document: Mapping[str, Any]
    updated_at: datetime | None = None
    updated_by: str | None = None


class PolicyStore:
    def __init__(
        self,
        database: Database,
        source: str,
        file_document: Mapping[str, Any] | None,
        file_policy: Policy,
        *,
        refresh_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.source = source
        self._db = database
        self._file_document = dict(file_document or {})
        self._has_file_document = file_document is not None
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._current = PolicyVersion(0, file_policy, self._file_document)
        self._checked_at = float("-inf")

    @property
    def editable(self) -> bool:
        return self.source == "database"

    def policy(self) -> Policy:
        """The policy in force now (what the hot path calls)."""
        return self.current().policy

    def current(self) -> PolicyVersion:
        """The newest version, checked against the database at most once per refresh interval.
        A database that cannot be read raises (the caller answers 503)."""
        if self.source == "file":
            return self._current
        now = self._clock()
        if now - self._checked_at < self._refresh_seconds:
            return self._current
        with self._lock:
            if now - self._checked_at >= self._refresh_seconds:
                self._reload_if_changed()
                self._checked_at = now
        return self._current

    def newest(self) -> PolicyVersion:
        """The newest version, read from the database now rather than the per-process copy
        (which may be up to a refresh interval old), so that an editor never works on a stale
        one. The file's policy in file mode; the copy in force when the stored document cannot
        be read (stored from outside the gateway)."""
        cached = self.current()
        if not self.editable:
            return cached
        with self._db.engine.connect() as connection:
            row = connection.execute(select(_TABLE).where(_TABLE.c.id == ROW_ID)).first()
        if row is None or row.version == cached.version:
            return cached
        try:
            policy = parse_policy(row.document, "mapping (database)")
        except ConfigError:
            return cached
        return PolicyVersion(row.version, policy, row.document, row.updated_at, row.updated_by)

    def seed(self) -> None:
        """Create the database row from the config's section (or the empty policy) if there is
        none yet. Safe to run on every start and from several processes at once."""
        if self.source != "database":
            return
        with self._db.engine.connect() as connection:
            if connection.execute(_VERSION).first() is not None:
                return
        try:
            with self._db.engine.begin() as connection:
                connection.execute(
                    _TABLE.insert(),
                    {
                        "id": ROW_ID,
                        "document": self._file_document,
                        "version": 1,
                        "updated_at": utcnow(),
                        # No section, no file to name: the row then starts empty.
                        "updated_by": "(config file)" if self._has_file_document else "(first start)",
                    },
                )
        except IntegrityError:
            pass  # another process seeded it first

    def save(
        self,
        document: Mapping[str, Any],
        *,
        by: str,
        expected_version: int | None = None,
        also: Callable[[Session], object] | None = None,
    ) -> PolicyVersion:
        """Validate and store a new policy document; return the new version. ``also`` runs
        last in the saving transaction (e.g. to queue the Registry writes the new policy
        causes, which then commit with it or not at all).

        Raises PolicyReadOnly in file mode, ConfigError (naming the dotted key) for an invalid
        document, PolicyConflict when ``expected_version`` is not the stored one.
        """
        if not self.editable:
            raise PolicyReadOnly("the mapping policy is managed by the config file")
        policy = parse_policy(document, "mapping")
        self.seed()
        with self._db.session() as session:
            stored = session.execute(_VERSION).scalar_one()
            if expected_version is not None and expected_version != stored:
                raise PolicyConflict(stored)
            now = utcnow()
            result = session.execute(
                update(_TABLE)
                .where(_TABLE.c.id == ROW_ID, _TABLE.c.version == stored)
                .values(document=dict(document), version=stored + 1, updated_at=now, updated_by=by)
            )
            if cast("CursorResult[Any]", result).rowcount != 1:
                raise PolicyConflict(stored + 1)
            if also is not None:
                also(session)
        saved = PolicyVersion(stored + 1, policy, dict(document), now, by)
        with self._lock:
            self._current, self._checked_at = saved, self._clock()
        return saved

    def _reload_if_changed(self) -> None:
        with self._db.engine.connect() as connection:
            version = connection.execute(_VERSION).scalar()
            if version is None:
                connection.close()
                self.seed()
                return self._reload_if_changed()
            if version == self._current.version:
                return
            row = connection.execute(select(_TABLE).where(_TABLE.c.id == ROW_ID)).one()
        try:
            policy = parse_policy(row.document, "mapping (database)")
        except ConfigError as error:
            # Only an edit outside the gateway can store an invalid document; keep serving the
            # last good one rather than failing every login.
            log.error(
                "stored mapping policy version %s is invalid, keeping version %s: %s",
                row.version,
                self._current.version,
                error,
            )
            return
        self._current = PolicyVersion(row.version, policy, row.document, row.updated_at, row.updated_by)
