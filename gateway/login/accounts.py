"""Username ownership: a username belongs to exactly one provider identity.

The first identity to log in under a username (or the local user created with it) owns it. A
different identity presenting the same username later is refused and audited, so an IdP or a
directory can never take over an account that another source established.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.login.credchanges import record_change
from gateway.storage.db import Database, name_lock
from gateway.storage.models import Account, AppPassword, SsoSession
from providers.base import Identity
from providers.sql import utcnow

_ACCOUNTS = cast(Table, Account.__table__)
_OWNER_BY_NAME = select(
    _ACCOUNTS.c.username,
    _ACCOUNTS.c.provider,
    _ACCOUNTS.c.subject,
    _ACCOUNTS.c.disabled,
    _ACCOUNTS.c.last_login_at,
    _ACCOUNTS.c.last_groups,
    _ACCOUNTS.c.created_at,
    _ACCOUNTS.c.last_details,
    _ACCOUNTS.c.registry_account_at,
).where(_ACCOUNTS.c.username == bindparam("username"))
# The last login is recorded to this resolution: a user logging in again within it, with the
# same groups, costs no write (every write also empties the SQLite read caches).
LOGIN_RECORD_RESOLUTION = timedelta(seconds=60)
# First key of the PostgreSQL advisory lock that serialises first claims per upper-cased name
# (app passwords use "ddga"); "ddgc".
FIRST_CLAIM_LOCK_CLASS = 0x64646763


class UsernameTaken(Exception):
    """The username is owned by another provider identity."""

    def __init__(self, username: str, owner_provider: str):
        super().__init__(f"username {username!r} is owned by provider {owner_provider!r}")
        self.username = username
        self.owner_provider = owner_provider


@dataclass(frozen=True)
class Owner:
    username: str
    provider: str
    subject: str
    disabled: bool
    last_login_at: datetime | None = None
    last_groups: tuple[str, ...] | None = None
    created_at: datetime | None = None
    # details_of the identity at the last login or sync (None: not recorded yet).
    last_details: dict[str, Any] | None = None
    registry_account_at: datetime | None = None

    @property
    def known_to_registry(self) -> bool:
        """Whether the Registry has an account of this name: the user signed in through the
        gateway (the Registry makes the account then), or was imported from the Registry."""
        return self.last_login_at is not None or self.registry_account_at is not None

    def login_recorded(self, identity: Identity, now: datetime) -> bool:
        """Whether a login now by ``identity`` is already recorded closely enough (its groups
        and details as stored, the last login within LOGIN_RECORD_RESOLUTION)."""
        return (
            self.last_login_at is not None
            and self.last_groups == identity.groups
            and now - self.last_login_at < LOGIN_RECORD_RESOLUTION
            and self.last_details == details_of(identity)
        )


def details_of(identity: Identity) -> dict[str, Any]:
    """What the mapping reads of ``identity`` besides its groups and names (e-mail, display
    name, attributes, overrides), in the form the ``last_details`` column gives back (a JSON
    round trip: tuples become lists), so a stored copy compares equal to a fresh one."""
    data = {
        "email": identity.email,
        "display_name": identity.display_name,
        "attributes": dict(identity.attributes),
        "overrides": dict(identity.overrides),
    }
    return cast(dict[str, Any], json.loads(json.dumps(data, default=str)))


def with_details(identity: Identity, groups: tuple[str, ...], details: dict[str, Any] | None) -> Identity:
    """``identity`` holding ``groups`` and the stored ``details`` (its own when None)."""
    data = identity.to_dict()
    data["groups"] = list(groups)
    if details is not None:
        data.update({key: details.get(key) for key in ("email", "display_name", "attributes", "overrides")})
    return Identity.from_dict(data)


def _refuse_a_registry_twin(session: Session, username: str) -> None:
    """Raise UsernameTaken when another spelling of ``username`` that upper-cases to the same
        name is owned already. The Registry finds its accounts by the upper-cased name (contract
        §2.1), so ``Alice`` would log in to ``alice``'s Registry account; with the default
        lower-casing canonical names never differ by case, but ``usernames.lowercase: false`` lets
        them. Runs only when a name is claimed for the first time (a scan, not the key look-up),
    after the claim's insert and under :func:`_serialise_first_claims`."""
    twin = session.execute(
        select(_ACCOUNTS.c.username, _ACCOUNTS.c.provider).where(
            func.upper(_ACCOUNTS.c.username) == username.upper(), _ACCOUNTS.c.username != username
        )
    ).first()
    if twin is not None:
        raise UsernameTaken(username, twin.provider)


def _serialise_first_claims(session: Session, username: str) -> None:
    """Make first claims of spellings that upper-case alike (``Ann``, ``ann``) take turns until
    the session's transaction ends, so the twin check that follows the insert sees the other's
    committed row: two simultaneous first logins cannot both own one Registry account.

    PostgreSQL: a transaction-scoped advisory lock on the upper-cased name. SQLite needs none:
    the insert that starts the transaction holds its only write lock until the commit."""
    name_lock(session.connection(), FIRST_CLAIM_LOCK_CLASS, username.upper())


class AccountRegistry:
    def __init__(self, database: Database):
        self._db = database

    def owner_of(self, username: str) -> Owner | None:
        """Who owns ``username``; a lean Core read, as it runs on every login."""
        with self._db.engine.connect() as connection:
            row = connection.execute(_OWNER_BY_NAME, {"username": username}).first()
        if row is None:
            return None
        return Owner(
            row.username,
            row.provider,
            row.subject,
            row.disabled,
            row.last_login_at,
            tuple(row.last_groups or ()),
            row.created_at,
            row.last_details,
            row.registry_account_at,
        )

    def username_of(self, provider: str, subject: str) -> str | None:
        """The username ``provider``'s person ``subject`` owns, if they have one here."""
        with self._db.engine.connect() as connection:
            return connection.execute(
                select(_ACCOUNTS.c.username).where(
                    _ACCOUNTS.c.provider == provider, _ACCOUNTS.c.subject == subject
                )
            ).scalar()

    def claim(self, identity: Identity, *, record_login: bool = True, known: Owner | None = None) -> Owner:
        """Make ``identity`` the owner of its username, or confirm it already is.

        ``known`` is the owner the caller read moments ago, if any: when it is this identity, a
        single UPDATE records the login (none when it is already recorded to
        LOGIN_RECORD_RESOLUTION with the same groups). Raises UsernameTaken when another identity owns the
        name (or the same identity owns another name).
        """
        if known is not None and (known.provider, known.subject) == (identity.provider, identity.subject):
            now = utcnow()
            if record_login and not known.login_recorded(identity, now):
                with self._db.engine.begin() as connection:
                    connection.execute(
                        update(_ACCOUNTS)
                        .where(_ACCOUNTS.c.username == identity.username)
                        .values(
                            last_login_at=now,
                            last_groups=list(identity.groups),
                            last_details=details_of(identity),
                        )
                    )
            return known
        for _attempt in range(3):
            try:
                return self._claim_once(identity, record_login)
            except IntegrityError:
                continue  # a concurrent first login inserted the row; read it and decide again
        # Still conflicting: this (provider, subject) owns another username. One owner each.
        raise UsernameTaken(identity.username, identity.provider)

    def _claim_once(self, identity: Identity, record_login: bool) -> Owner:
        with self._db.session() as session:
            account = session.get(Account, identity.username)
            if account is None:
                _serialise_first_claims(session, identity.username)
                account = Account(
                    username=identity.username,
                    provider=identity.provider,
                    subject=identity.subject,
                    last_groups=list(identity.groups),
                    last_details=details_of(identity),
                )
                session.add(account)
                session.flush()  # SQLite: the insert holds the only write lock until the commit
                _refuse_a_registry_twin(session, identity.username)
            elif (account.provider, account.subject) != (identity.provider, identity.subject):
                raise UsernameTaken(identity.username, account.provider)
            if record_login:
                account.last_login_at = utcnow()
                account.last_groups = list(identity.groups)
                account.last_details = details_of(identity)
            session.flush()
            return _owner(account)

    def set_disabled(
        self, username: str, disabled: bool, *, also: Callable[[Session], None] | None = None
    ) -> bool:
        """Block or unblock ``username`` at the gateway. Blocking also revokes every session and
        app password of the user in the same transaction, so no token or app password of theirs
        works afterwards. ``also`` runs last in that transaction (e.g. to queue the matching
        Registry write, which then commits with the change or not at all)."""
        with self._db.session() as session:
            return self.set_disabled_in(session, username, disabled, also=also)

    def set_disabled_in(
        self,
        session: Session,
        username: str,
        disabled: bool,
        *,
        also: Callable[[Session], None] | None = None,
    ) -> bool:
        """:meth:`set_disabled` inside ``session``'s transaction (a change that another store
        makes, such as the local user's own flag, commits with it); whether an account of that
        name exists."""
        result = session.execute(
            update(Account).where(Account.username == username).values(disabled=disabled)
        )
        if disabled:
            now = utcnow()
            session.execute(
                update(SsoSession)
                .where(SsoSession.username == username, SsoSession.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            session.execute(
                update(AppPassword)
                .where(AppPassword.username == username, AppPassword.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        record_change(session, username)
        if also is not None:
            also(session)
        return cast("CursorResult[Any]", result).rowcount > 0

    def record_snapshot(self, identity: Identity) -> None:
        """Keep ``identity`` (from a browser login), and when it was seen, as what app-password
        logins answer with (logins proven from the previous one are forgotten: its groups may
        have changed)."""
        data = {"identity": identity.to_dict(), "recorded_at": utcnow().timestamp()}
        with self._db.session() as session:
            session.execute(
                update(_ACCOUNTS)
                .where(
                    _ACCOUNTS.c.username == identity.username,
                    _ACCOUNTS.c.provider == identity.provider,
                    _ACCOUNTS.c.subject == identity.subject,
                )
                .values(snapshot=data)
            )
            record_change(session, identity.username)

    def snapshot(self, username: str) -> tuple[Identity, datetime] | None:
        """The identity kept by :meth:`record_snapshot` and when it was recorded, if any."""
        with self._db.engine.connect() as connection:
            data = connection.execute(
                select(_ACCOUNTS.c.snapshot).where(_ACCOUNTS.c.username == username)
            ).scalar()
        if not data:
            return None
        return (
            Identity.from_dict(data["identity"]),
            datetime.fromtimestamp(data["recorded_at"], UTC),
        )

    def release(self, username: str) -> None:
        """Forget who owns ``username`` (when its user is deleted), and its app passwords."""
        with self._db.session() as session:
            session.execute(delete(AppPassword).where(AppPassword.username == username))
            session.execute(delete(Account).where(Account.username == username))
            record_change(session, username)

    def any(self) -> bool:
        """Whether any username has an owner yet."""
        with self._db.engine.connect() as connection:
            return connection.execute(select(_ACCOUNTS.c.username).limit(1)).first() is not None

    def list(self) -> list[Owner]:
        with self._db.session() as session:
            return [_owner(a) for a in session.scalars(select(Account).order_by(Account.username))]


def _owner(account: Account) -> Owner:
    return Owner(
        account.username,
        account.provider,
        account.subject,
        account.disabled,
        account.last_login_at,
        tuple(account.last_groups or ()),
        account.created_at,
        account.last_details,
        account.registry_account_at,
    )
