"""Quota-shrink safety: a change that would put users' quota below the storage they already
use needs an explicit confirmation.

The Registry's storage figures come from ``registry_storage`` (refreshed periodically by
:mod:`gateway.registry.storagerefresh`); users without figures are not checked. A user is
named when their quota goes **down** and the new quota is below what they use; a user whose
quota does not change is not (an already-full user must not block unrelated edits).

Every client (admin API, admin UI, CLI) goes through the admin services that call
:func:`check_quota_shrink`, so they all get the same refusal: ``AdminError`` 409 naming each
user with their usage and new quota, unless the caller confirmed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.admin.errors import AdminError
from gateway.mapping import Evaluation
from gateway.storage.db import Database
from gateway.storage.registrystate import storage_by_user

MIB = 1024 * 1024
CONFIRM_FIELD = "confirmQuotaShrink"
MAX_NAMED = 20


@dataclass(frozen=True)
class QuotaShrink:
    """``username`` uses ``used_bytes`` and would get a quota of ``new_quota_mb``."""

    username: str
    used_bytes: int
    new_quota_mb: int

    def describe(self) -> str:
        """``alice uses 900.0 MB, new quota 500 MB``."""
        return f"{self.username} uses {self.used_bytes / MIB:.1f} MB, new quota {self.new_quota_mb} MB"


def quota_of(evaluation: Evaluation | None) -> int | None:
    """The quota in MB a login would get (None: unlimited, or no login at all)."""
    if evaluation is None or evaluation.denied:
        return None
    return evaluation.max_storage_mb


def shrinks(
    database: Database, changes: Iterable[tuple[str, Evaluation | None, Evaluation | None]]
) -> list[QuotaShrink]:
    """From ``(username, before, after)`` evaluations, the users whose quota goes down to
    below their known usage, in the given order."""
    lowered: list[tuple[str, int]] = []
    for username, before, after in changes:
        old, new = quota_of(before), quota_of(after)
        if new is not None and (old is None or new < old):
            lowered.append((username, new))
    if not lowered:
        return []
    with database.session() as session:
        figures = storage_by_user(session, [username for username, _ in lowered])
    found = []
    for username, new in lowered:
        row = figures.get(username)
        if row is not None and new * MIB < row.used_bytes:
            found.append(QuotaShrink(username, row.used_bytes, new))
    return found


def check_quota_shrink(
    database: Database | None,
    changes: Iterable[tuple[str, Evaluation | None, Evaluation | None]],
    *,
    confirmed: bool,
) -> list[QuotaShrink]:
    """Refuse (AdminError 409, field ``confirmQuotaShrink``) a change that lowers some user's
    quota below their usage, unless ``confirmed``; return those users either way (none when
    ``database`` is None, i.e. no storage figures are kept)."""
    if database is None:
        return []
    found = shrinks(database, changes)
    if found and not confirmed:
        named = "; ".join(item.describe() for item in found[:MAX_NAMED])
        more = f" (and {len(found) - MAX_NAMED} more)" if len(found) > MAX_NAMED else ""
        raise AdminError(
            409,
            f"this lowers the quota of {len(found)} user(s) below the storage they already use: "
            f"{named}{more}; confirm to save anyway ({CONFIRM_FIELD})",
            CONFIRM_FIELD,
        )
    return found
