"""SSO sessions for admins: who is signed in, and ending sessions (which ends every token
bound to them at once, on the contract endpoint too).

Handles: a session is listed and revoked by its id, as stored. The id alone opens nothing: it
is already the ``sid`` claim of every token of the session, readable by any script that sees
the token, while the browser's session cookie carries it with a MAC under a server key, and a
token needs the signing key. Only admins can list sessions, so the id is shown to them as is:
it is the one handle that a token's ``sid`` and the logs can be matched with.

Mass revocation (all of one user, or everyone) keeps the caller's own current session unless
``include_self`` is asked for, so that an admin cleaning up is not signed out in the middle
of it; revoking one session by its id always does what it says, the caller's own included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gateway.admin.errors import AdminError
from gateway.observe.audit import AuditLog
from gateway.sso.sessions import SessionRecord, SessionStore
from providers.sql import utcnow

MAX_LIMIT = 1000
AUDIT_ID_CHARS = 12  # enough to find a session in the audit trail, not a whole copy of the id


@dataclass(frozen=True)
class SessionView:
    id: str
    username: str
    provider: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    active: bool


class AdminSessions:
    def __init__(self, *, sessions: SessionStore, audit: AuditLog):
        self._sessions = sessions
        self._audit = audit

    def list(
        self, *, username: str | None = None, include_ended: bool = False, offset: int = 0, limit: int = 100
    ) -> tuple[list[SessionView], int]:
        """Sessions newest first, active ones only unless ``include_ended``: one page and the
        number that match in all."""
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise AdminError(400, f"limit must be 1 to {MAX_LIMIT}", "limit")
        records, total = self._sessions.page(
            username=username, include_ended=include_ended, offset=offset, limit=limit
        )
        now = utcnow()
        return [_view(record, now) for record in records], total

    def revoke(self, actor: str, session_id: str) -> None:
        """End one active session (404 when there is no such active session)."""
        record = self._sessions.get_active(session_id) if "\x00" not in session_id else None
        if record is None or not self._sessions.revoke(session_id):
            raise AdminError(404, "no such active session")
        self._audit.record(
            "session_revoked",
            "ok",
            username=record.username,
            actor=actor,
            session=session_id[:AUDIT_ID_CHARS],
        )

    def revoke_user(self, actor: str, username: str, *, keep: str | None = None) -> int:
        """End every active session of ``username`` except ``keep``; return how many ended."""
        count = self._sessions.revoke_user(username, keep=keep)
        self._audit.record(
            "sessions_revoked", "ok", username=username, actor=actor, scope="user", count=count
        )
        return count

    def revoke_all(self, actor: str, *, keep: str | None = None) -> int:
        """End every active session of everyone except ``keep``; return how many ended."""
        count = self._sessions.revoke_all(keep=keep)
        self._audit.record("sessions_revoked", "ok", actor=actor, scope="all", count=count)
        return count


def _view(record: SessionRecord, now: datetime) -> SessionView:
    return SessionView(
        record.id,
        record.username,
        record.provider,
        record.created_at,
        record.expires_at,
        record.revoked_at,
        record.active(now),
    )
