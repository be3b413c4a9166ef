"""App passwords: named, revocable passwords for the command line.

An SSO user has no password the gateway could check, and ``ddb login`` only knows username +
password. After a browser login the user creates app passwords on the self-service page and
types one instead. An app password reads ``gwap_<id>_<secret>``: the id finds the one row to
check (no scan over a user's passwords), the secret is 256 random bits of which only a SHA-256
is stored. Each is shown once, may expire, records its last use (by an accepted login), and is
revoked with the user. At most MAX_PER_USER are active per user, however many workers or replicas
create them at once.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from gateway.login.credchanges import record_change
from gateway.storage.db import Database, name_lock
from gateway.storage.models import AppPassword
from providers.sql import utcnow

PREFIX = "gwap_"
API_KEY_PREFIX = "gwak_"
_FORMAT = re.compile(r"gwap_([a-z0-9]{12})_([A-Za-z0-9_-]{43})")
MAX_PER_USER = 20
MAX_NAME_LENGTH = 100
MAX_LIFETIME = timedelta(days=3650)
# Last use is recorded to this resolution: a script logging in every second costs no writes.
LAST_USE_RESOLUTION = timedelta(seconds=60)
# First key of the PostgreSQL advisory lock that serialises creates per user (two-int keys do
# not share a key space with the one-bigint keys of gateway.storage.db); "ddga".
CREATE_LOCK_CLASS = 0x64646761

_TABLE = cast(Table, AppPassword.__table__)
_BY_ID = select(
    _TABLE.c.username,
    _TABLE.c.kind,
    _TABLE.c.secret_sha256,
    _TABLE.c.expires_at,
    _TABLE.c.revoked_at,
    _TABLE.c.last_used_at,
).where(_TABLE.c.id == bindparam("id"))
_ACTIVE_OF = (
    select(func.count())
    .select_from(_TABLE)
    .where(
        _TABLE.c.username == bindparam("username"),
        _TABLE.c.kind == bindparam("kind"),
        _TABLE.c.revoked_at.is_(None),
    )
)


class AppPasswordError(ValueError):
    """A request to create or revoke an app password that cannot be honoured; the message is
    safe to show to the user."""


@dataclass(frozen=True)
class AppPasswordView:
    id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True)
class AppPasswordMatch:
    """An active, unexpired app password that a presented secret matched: its id, its user,
    and its last recorded use (for :meth:`AppPasswords.touch`)."""

    id: str
    username: str
    last_used_at: datetime | None
    expires_at: datetime | None = None


def looks_like_app_password(password: str) -> bool:
    """Whether ``password`` has the shape of an app password (no database access)."""
    return password.startswith(PREFIX) and _FORMAT.fullmatch(password) is not None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


class AppPasswords:
    """App passwords (``kind="app"``) or, with ``kind="api"``, personal API keys for the admin
    API (``gwak_<id>_<secret>``): the same lifecycle, kept apart by kind so neither works as
    the other."""

    def __init__(self, database: Database, *, clock: Callable[[], datetime] = utcnow, kind: str = "app"):
        self._db = database
        self._clock = clock
        self._kind = kind
        self._prefix = PREFIX if kind == "app" else API_KEY_PREFIX
        self._noun = "app passwords" if kind == "app" else "API keys"
        self._format = re.compile(re.escape(self._prefix) + r"([a-z0-9]{12})_([A-Za-z0-9_-]{43})")

    def create(
        self, username: str, name: str, lifetime: timedelta | None = None
    ) -> tuple[AppPasswordView, str]:
        """A new app password for ``username``: its view and the password, which is returned
        only here and never stored. Raises AppPasswordError for a bad name or lifetime, or
        when the user already has MAX_PER_USER active ones."""
        name = " ".join((name or "").split())
        if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
            raise AppPasswordError(f"name must be 1 to {MAX_NAME_LENGTH} printable characters")
        if lifetime is not None and not timedelta(0) < lifetime <= MAX_LIFETIME:
            raise AppPasswordError("expiry must be between 1 and 3650 days")
        now = self._clock()
        public_id = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
        secret = secrets.token_urlsafe(32)
        expires_at = now + lifetime if lifetime else None
        with self._db.engine.begin() as connection:
            _serialise_creates(connection, username)
            connection.execute(
                insert(_TABLE).values(
                    id=public_id,
                    username=username,
                    kind=self._kind,
                    name=name,
                    secret_sha256=_digest(secret),
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            # Counted after the insert, in its transaction: over the cap rolls the insert back.
            active = connection.execute(_ACTIVE_OF, {"username": username, "kind": self._kind}).scalar_one()
            if active > MAX_PER_USER:
                raise AppPasswordError(f"at most {MAX_PER_USER} {self._noun}; revoke one first")
        view = AppPasswordView(public_id, name, now, expires_at, None)
        return view, f"{self._prefix}{public_id}_{secret}"

    def find(self, password: str) -> AppPasswordMatch | None:
        """The active, unexpired secret of this kind that ``password`` is, or None. Records no
        use: call :meth:`touch` once the login it was presented for has been accepted."""
        match = self._format.fullmatch(password)
        if match is None:
            return None
        public_id, secret = match.groups()
        with self._db.engine.connect() as connection:
            row = connection.execute(_BY_ID, {"id": public_id}).first()
        # Digest and compare even when there is no row, so a miss costs the same.
        expected = row.secret_sha256 if row is not None else "0" * 64
        matches = hmac.compare_digest(_digest(secret), expected)
        now = self._clock()
        if (
            row is None
            or not matches
            or row.kind != self._kind
            or row.revoked_at is not None
            or (row.expires_at is not None and row.expires_at <= now)
        ):
            return None
        return AppPasswordMatch(public_id, row.username, row.last_used_at, row.expires_at)

    def touch(self, match: AppPasswordMatch) -> None:
        """Record that ``match`` was just used for an accepted login, to LAST_USE_RESOLUTION: no
        write while its recorded last use is more recent than that."""
        now = self._clock()
        if match.last_used_at is not None and now - match.last_used_at < LAST_USE_RESOLUTION:
            return
        with self._db.engine.begin() as connection:
            connection.execute(update(_TABLE).where(_TABLE.c.id == match.id).values(last_used_at=now))

    def list(self, username: str) -> list[AppPasswordView]:
        """The user's app passwords that are not revoked (expired ones included), newest first."""
        with self._db.session() as session:
            rows = session.scalars(
                select(AppPassword)
                .where(
                    AppPassword.username == username,
                    AppPassword.kind == self._kind,
                    AppPassword.revoked_at.is_(None),
                )
                .order_by(AppPassword.created_at.desc(), AppPassword.id)
            ).all()
            return [_view(row) for row in rows]

    def revoke_all(self, username: str) -> int:
        """Revoke every active app password and API key of ``username`` (both kinds); return
        how many."""
        with self._db.session() as session:
            result = session.execute(
                update(AppPassword)
                .where(AppPassword.username == username, AppPassword.revoked_at.is_(None))
                .values(revoked_at=self._clock())
            )
            record_change(session, username)
            return cast("CursorResult[Any]", result).rowcount or 0

    def revoke(self, username: str, public_id: str) -> bool:
        """Revoke one of the user's app passwords; False if there was no such active one."""
        with self._db.session() as session:
            result = session.execute(
                update(AppPassword)
                .where(
                    AppPassword.id == public_id,
                    AppPassword.username == username,
                    AppPassword.kind == self._kind,
                    AppPassword.revoked_at.is_(None),
                )
                .values(revoked_at=self._clock())
            )
            revoked = cast("CursorResult[Any]", result).rowcount > 0
            if revoked:
                record_change(session, username)
            return revoked


def _serialise_creates(connection: Connection, username: str) -> None:
    """Make concurrent creates for ``username`` take turns until ``connection``'s transaction
    ends, so a count taken in it is not outdated by another worker's or replica's insert.

    PostgreSQL: a transaction-scoped advisory lock on the user (waiting at most the statement
    timeout). SQLite needs none: the insert that starts the transaction holds its only write
    lock until the commit."""
    name_lock(connection, CREATE_LOCK_CLASS, username)


def _view(row: AppPassword) -> AppPasswordView:
    return AppPasswordView(row.id, row.name, row.created_at, row.expires_at, row.last_used_at)
