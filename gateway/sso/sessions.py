"""SSO sessions: what gateway tokens are bound to. Revoking a session revokes all its tokens
and forgets the ID token its browser login kept."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session

from gateway.login.credchanges import record_change
from gateway.storage.models import SsoSession
from gateway.storage.readcache import exact_cache_for
from providers.base import Identity
from providers.sql import utcnow

MAX_SESSION_ID_LENGTH = 64  # the column's width


@dataclass(frozen=True)
class SessionRecord:
    """A snapshot of one session row, detached from the database."""

    id: str
    username: str
    provider: str
    identity: Identity
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    # The login's sealed ID token: read only by SessionStore.with_sealed_id_token (the
    # sign-out path), None everywhere else.
    sealed_id_token: str | None = field(default=None, repr=False, compare=False)

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now


_SESSIONS = SsoSession.__table__
_ACTIVE_BY_ID = select(
    _SESSIONS.c.id,
    _SESSIONS.c.username,
    _SESSIONS.c.provider,
    _SESSIONS.c.identity,
    _SESSIONS.c.created_at,
    _SESSIONS.c.expires_at,
    _SESSIONS.c.revoked_at,
).where(_SESSIONS.c.id == bindparam("session_id"))


def _record(row) -> SessionRecord:
    return SessionRecord(
        row.id,
        row.username,
        row.provider,
        Identity.from_dict(row.identity),
        row.created_at,
        row.expires_at,
        row.revoked_at,
    )


class SessionStore:
    """Creates, looks up and revokes SSO sessions in the gateway database."""

    def __init__(self, database, *, clock: Callable[[], datetime] = utcnow):
        self.database = database
        self._clock = clock
        self._cache = exact_cache_for(database.engine)

    def create(
        self,
        identity: Identity,
        lifetime: timedelta,
        *,
        sealed_id_token: str | None = None,
        idp_session: str | None = None,
    ) -> SessionRecord:
        """Start a session for ``identity`` lasting ``lifetime``; its id is 192 random bits.
        ``sealed_id_token`` (the login's ID token, already sealed) is kept until it ends;
        ``idp_session`` (the IdP's ``sid``) for a back-channel logout to name it by."""
        if lifetime <= timedelta(0):
            raise ValueError("session lifetime must be positive")
        now = self._clock()
        row = SsoSession(
            id=secrets.token_urlsafe(24),
            username=identity.username,
            provider=identity.provider,
            identity=identity.to_dict(),
            created_at=now,
            expires_at=now + lifetime,
            sealed_id_token=sealed_id_token,
            idp_session=idp_session,
        )
        with self.database.session() as session:
            session.add(row)
        return _record(row)

    def get_active(self, session_id: str, now: datetime | None = None) -> SessionRecord | None:
        """The session if it exists, is not revoked and has not expired at ``now``; else None.

        One primary-key lookup (this runs for every token the Registry relays).
        """
        if not isinstance(session_id, str) or not session_id or len(session_id) > MAX_SESSION_ID_LENGTH:
            return None
        now = self._clock() if now is None else now
        if self._cache is None:
            found = self._read(session_id)
        else:
            found = self._cache.get(session_id, lambda: self._read(session_id))
        if found is None:
            return None
        record, revoked = found
        if revoked or record.expires_at <= now:
            return None
        return record

    def _read(self, session_id: str) -> tuple[SessionRecord, bool] | None:
        # Core, not the ORM: this is the token path's hot read (~40 us instead of ~400 us).
        with self.database.engine.connect() as connection:
            row = connection.execute(_ACTIVE_BY_ID, {"session_id": session_id}).first()
        return None if row is None else (_record(row), row.revoked_at is not None)

    def with_sealed_id_token(self, record: SessionRecord) -> SessionRecord:
        """``record`` with the sealed ID token its row holds now (None once it has ended): one
        primary-key read of that column alone, for the sign-out path."""
        with self.database.engine.connect() as connection:
            sealed = connection.execute(
                select(_SESSIONS.c.sealed_id_token).where(_SESSIONS.c.id == record.id)
            ).scalar()
        return replace(record, sealed_id_token=sealed)

    def revoke(self, session_id: str) -> bool:
        """End the session (forgetting its ID token); True if it was active until now."""
        if not isinstance(session_id, str) or len(session_id) > MAX_SESSION_ID_LENGTH:
            return False
        return self._revoke_where(SsoSession.id == session_id) > 0

    def revoke_user(self, username: str, *, keep: str | None = None) -> int:
        """End every active session of ``username`` except ``keep``; return how many were
        ended."""
        return self._revoke_where(
            SsoSession.username == username, SsoSession.id != (keep or ""), changed=username
        )

    def revoke_all(self, *, keep: str | None = None) -> int:
        """End every active session of everyone except ``keep``; return how many were ended."""
        return self._revoke_where(SsoSession.id != (keep or ""), changed=None)

    def revoke_idp_sessions(
        self,
        provider: str,
        *,
        username: str | None,
        idp_session: str | None,
        also: Callable[[Session, set[str]], None] | None = None,
    ) -> dict[str, int]:
        """End the active sessions opened through ``provider`` that an IdP's logout names: the
        one(s) of its session ``idp_session``, of ``username`` only when that is given too, or
        every one of ``username``. Returns how many ended per username. ``also`` runs last in
        the same transaction with the usernames whose sessions ended, so a write it queues
        (the Registry's) commits with the revocation or not at all."""
        if username is None and idp_session is None:
            raise ValueError("a logout names a user, an IdP session, or both")
        conditions = [SsoSession.provider == provider]
        if username is not None:
            conditions.append(SsoSession.username == username)
        if idp_session is not None:
            conditions.append(SsoSession.idp_session == idp_session)
        now = self._clock()
        active = (SsoSession.revoked_at.is_(None), SsoSession.expires_at > now)
        with self.database.session() as session:
            rows = session.execute(
                select(SsoSession.id, SsoSession.username).where(*conditions, *active)
            ).all()
            ended: dict[str, int] = {}
            ids = [row.id for row in rows]
            if ids:
                session.execute(
                    update(SsoSession)
                    .where(SsoSession.id.in_(ids), *active)
                    .values(revoked_at=now, sealed_id_token=None)
                )
            for row in rows:
                ended[row.username] = ended.get(row.username, 0) + 1
            if also is not None:
                also(session, set(ended))
            return ended

    def page(
        self, *, username: str | None = None, include_ended: bool = False, offset: int = 0, limit: int = 100
    ) -> tuple[list[SessionRecord], int]:
        """Sessions newest first (of ``username`` only, when given; ended ones too, when
        ``include_ended``): the ``limit`` from ``offset``, and how many match in all."""
        conditions = []
        if username is not None:
            conditions.append(SsoSession.username == username)
        if not include_ended:
            conditions += [SsoSession.revoked_at.is_(None), SsoSession.expires_at > self._clock()]
        with self.database.session() as session:
            total = session.scalar(select(func.count()).select_from(SsoSession).where(*conditions))
            rows = session.scalars(
                select(SsoSession)
                .where(*conditions)
                .order_by(SsoSession.created_at.desc(), SsoSession.id)
                .offset(offset)
                .limit(limit)
            ).all()
            return [_record(row) for row in rows], total or 0

    def list_for_user(self, username: str) -> list[SessionRecord]:
        """The active sessions of ``username``, newest first."""
        now = self._clock()
        with self.database.session() as session:
            rows = session.scalars(
                select(SsoSession)
                .where(
                    SsoSession.username == username,
                    SsoSession.revoked_at.is_(None),
                    SsoSession.expires_at > now,
                )
                .order_by(SsoSession.created_at.desc(), SsoSession.id)
            ).all()
            return [_record(row) for row in rows]

    def purge(self, before: datetime) -> int:
        """Delete sessions that expired or were revoked before ``before``; return how many."""
        with self.database.session() as session:
            result = session.execute(
                delete(SsoSession).where(or_(SsoSession.expires_at < before, SsoSession.revoked_at < before))
            )
            return result.rowcount or 0

    def _revoke_where(self, *conditions, changed: str | None | Literal[False] = False) -> int:
        """End the matching active sessions. ``changed``: whose cached password logins end
        too (a username, None for everyone; False for none: one sign-out ends one session)."""
        now = self._clock()
        with self.database.session() as session:
            result = session.execute(
                update(SsoSession)
                .where(*conditions, SsoSession.revoked_at.is_(None), SsoSession.expires_at > now)
                .values(revoked_at=now, sealed_id_token=None)
            )
            if changed is not False:
                record_change(session, changed)
            return result.rowcount or 0
