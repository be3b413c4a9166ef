"""A mapping file (``mapping_source: file``) kept in step with the Registry across restarts.

In file mode the policy changes only when the file is edited and the gateway restarted, and no
admin save runs to queue the answers it changes. So at start-up (inside
:func:`gateway.bootstrap.prepare`, where replicas on PostgreSQL take turns) the policy in force
is compared with the one last applied, kept in ``mapping_applied``; when they differ, the new
answer of every known user whose answer changed is queued exactly as a database-mode save
queues it (:meth:`gateway.admin.registrypush.Answers.queue_changed`), and the file's policy is
recorded as applied, in one transaction. A compare-and-set on the stored fingerprint makes
sure only one process does it, even where nothing makes processes take turns (SQLite).

There is nobody to confirm a quota that falls below a user's usage: the file is the operator's
decision, so it is applied, and the users concerned are counted in a warning log line and in
the ``mapping_file_applied`` audit event (the Registry only refuses new uploads above a quota).

With no policy applied yet, the policy the database last held (``mapping_source: database``
before) is the previous one; with neither, the file's becomes the baseline and nothing is
queued (the users' next logins bring the Registry in step). In database mode the record is
removed, so a later return to file mode compares with the database's policy.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.admin.people import People
from gateway.admin.quotashrink import MAX_NAMED, QuotaShrink, shrinks
from gateway.admin.registrypush import Answers
from gateway.config.errors import ConfigError
from gateway.mapping import Policy, parse_policy
from gateway.mapping.store import PolicyStore
from gateway.observe.audit import AuditLog
from gateway.storage.db import Database
from gateway.storage.models import MappingApplied, MappingPolicyRow
from providers.sql import utcnow

log = logging.getLogger(__name__)
ROW_ID = 1
EVENT = "mapping_file_applied"


@dataclass(frozen=True)
class FileApplied:
    """What applying a changed file did: the users whose answer was queued, and those whose
    quota fell below their usage."""

    changed: list[str] = field(default_factory=list)
    quota_below_usage: list[QuotaShrink] = field(default_factory=list)


def fingerprint(document: Mapping[str, Any]) -> str:
    """A stable digest of a policy document (key order does not matter)."""
    text = json.dumps(document, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def apply_file_policy(
    database: Database, store: PolicyStore, people: People, answers: Answers, audit: AuditLog
) -> FileApplied | None:
    """Apply the file's policy as the module doc says; returns what it did, or None when
    there was nothing to compare (database mode, the same policy as last applied, a baseline,
    or another process applied it first)."""
    if store.source != "file":
        with database.session() as session:
            session.execute(delete(MappingApplied))
        return None
    version = store.current()
    document = dict(version.document)
    digest = fingerprint(document)
    with database.engine.connect() as connection:
        row = connection.execute(select(MappingApplied.document, MappingApplied.fingerprint)).first()
        held = connection.execute(select(MappingPolicyRow.document)).scalar()
    if row is not None and row.fingerprint == digest:
        return None
    previous = _parsed(row.document if row is not None else held)
    if previous is None:
        _record(database, None, document, digest)
        log.info("mapping file recorded as applied (nothing earlier to compare it with)")
        return None
    return _apply(database, people, answers, audit, previous, version.policy, document, digest, row)


def _apply(
    database: Database,
    people: People,
    answers: Answers,
    audit: AuditLog,
    previous: Policy,
    policy: Policy,
    document: dict[str, Any],
    digest: str,
    row: Any,
) -> FileApplied | None:
    enabled = [person for person in people.all() if person.enabled]
    below = shrinks(
        database,
        ((p.username, people.evaluation(p, previous), people.evaluation(p, policy)) for p in enabled),
    )
    before, after = answers.known(policy=previous), answers.known(policy=policy)
    try:
        with database.session() as session:
            _record_in(session, row.fingerprint if row is not None else None, document, digest)
            changed = answers.queue_changed(session, before, after)
            audit.record_in(
                session,
                EVENT,
                "ok",
                actor="(config file)",
                changed=len(changed),
                quota_below_usage=len(below),
            )
    except _Lost:
        return None  # another process applied it first
    log.info("mapping file changed: queued the new Registry answer of %d user(s)", len(changed))
    if below:
        named = "; ".join(item.describe() for item in below[:MAX_NAMED])
        more = f" (and {len(below) - MAX_NAMED} more)" if len(below) > MAX_NAMED else ""
        log.warning(
            "the mapping file lowers the quota of %d user(s) below the storage they already use: %s%s",
            len(below),
            named,
            more,
        )
    return FileApplied(changed, below)


def _parsed(document: Any) -> Policy | None:
    if document is None:
        return None
    try:
        return parse_policy(document, "mapping (last applied)")
    except ConfigError as error:
        log.warning("the mapping last applied cannot be read (%s); the file's becomes the baseline", error)
        return None


class _Lost(Exception):
    """Another process recorded a policy as applied since this one read the record."""


def _record(database: Database, expected: str | None, document: dict[str, Any], digest: str) -> None:
    try:
        with database.session() as session:
            _record_in(session, expected, document, digest)
    except _Lost:
        pass


def _record_in(session: Session, expected: str | None, document: dict[str, Any], digest: str) -> None:
    """Store ``document`` as applied if the stored fingerprint is still ``expected`` (None: no
    row yet); raise _Lost (the caller's transaction then rolls back) when it is not."""
    values = {"document": document, "fingerprint": digest, "applied_at": utcnow()}
    if expected is None:
        session.add(MappingApplied(id=ROW_ID, **values))
        try:
            session.flush()
        except IntegrityError:
            raise _Lost from None
        return
    result = session.execute(
        update(MappingApplied)
        .where(MappingApplied.id == ROW_ID, MappingApplied.fingerprint == expected)
        .values(**values)
    )
    if cast("CursorResult[Any]", result).rowcount != 1:
        raise _Lost
