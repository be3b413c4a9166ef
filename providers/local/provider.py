"""The local user database as a password provider."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from providers.base import MUST_CHANGE_PASSWORD, HealthReport, Identity, ProviderUnavailable, Rejection
from providers.local.hashing import CappedHasher
from providers.local.models import LocalGroup, LocalGroupMember, LocalUser

_USERS, _MEMBERS, _GROUPS = (
    cast(Table, model.__table__) for model in (LocalUser, LocalGroupMember, LocalGroup)
)
# One statement for the user and all their groups: this runs on every login and every token.
_USER_WITH_GROUPS = (
    select(
        _USERS.c.id,
        _USERS.c.username,
        _USERS.c.email,
        _USERS.c.display_name,
        _USERS.c.enabled,
        _USERS.c.overrides,
        _USERS.c.password_hash,
        _USERS.c.must_change_password,
        _GROUPS.c.name.label("group_name"),
    )
    .select_from(
        _USERS.outerjoin(_MEMBERS, _MEMBERS.c.user_id == _USERS.c.id).outerjoin(
            _GROUPS, _GROUPS.c.id == _MEMBERS.c.group_id
        )
    )
    .where(_USERS.c.username == bindparam("username"))
    .order_by(_GROUPS.c.name)
)


def local_subject(user_id: int) -> str:
    """The identity subject of the local user with database id ``user_id`` (what the
    ``accounts`` table records as its owner)."""
    return f"local:{user_id}"


@dataclass(frozen=True)
class _StoredUser:
    id: int
    username: str
    email: str | None
    display_name: str | None
    enabled: bool
    overrides: dict[str, Any]
    password_hash: str
    groups: tuple[str, ...]
    must_change_password: bool = False


class LocalProvider:
    """Checks passwords against argon2id hashes in the gateway's own database (and, until their
    first login, the ASP.NET Identity hashes of users imported from a Registry).

    Passwords are compared in their NFKC form (:mod:`providers.local.normalise`); a hash made
    from the typed spelling (before the gateway normalised, or by the Registry) still matches
    and is replaced on that login by a hash of the normalised password.

    Unknown users cost one dummy hash, so they take as long as a wrong password; a disabled
    account is only reported as such once its password was proven right.
    """

    def __init__(self, provider_id: str, engine: Engine, hasher: CappedHasher):
        self.id = provider_id
        self._engine = engine
        self._hasher = hasher

    def check_password(self, username: str, password: str) -> Identity | Rejection:
        user = self._load(username)
        if user is None:
            self._hasher.burn(password)
            return Rejection.NO_SUCH_USER
        verification = self._hasher.check(user.password_hash, password)
        if not verification.matched:
            return Rejection.WRONG_CREDENTIALS
        if not user.enabled:
            return Rejection.DISABLED
        if verification.rehash:
            self._rehash(user, password)
        return self._identity(user)

    def burn(self, password: str) -> None:
        """Spend what checking a password for an unknown user costs (one dummy hash)."""
        self._hasher.burn(password)

    def lookup(self, username: str) -> Identity | Rejection:
        user = self._load(username)
        if user is None:
            return Rejection.NO_SUCH_USER
        if not user.enabled:
            return Rejection.DISABLED
        return self._identity(user)

    def check_health(self) -> HealthReport:
        """Healthy when the user table can be counted; the detail says how many users there
        are. A database error propagates (the caller reports it by its type)."""
        with self._engine.connect() as connection:
            count = connection.execute(select(func.count(_USERS.c.id))).scalar_one()
        return HealthReport(True, f"local database, {count} users")

    def close(self) -> None:
        """Nothing to release: the engine belongs to the gateway."""

    def _load(self, username: str) -> _StoredUser | None:
        try:
            with self._engine.connect() as connection:
                rows = connection.execute(_USER_WITH_GROUPS, {"username": username}).all()
        except (OperationalError, InterfaceError) as error:
            raise ProviderUnavailable(self.id, f"database: {type(error).__name__}") from None
        if not rows:
            return None
        first = rows[0]
        return _StoredUser(
            id=first.id,
            username=first.username,
            email=first.email,
            display_name=first.display_name,
            enabled=first.enabled,
            overrides=dict(first.overrides or {}),
            password_hash=first.password_hash,
            groups=tuple(row.group_name for row in rows if row.group_name is not None),
            must_change_password=bool(first.must_change_password),
        )

    def _rehash(self, user: _StoredUser, password: str) -> None:
        """Store a hash of the normalised password with the current parameters, unless the
        password changed meanwhile (the UPDATE only applies to the hash that was verified)."""
        try:
            new_hash = self._hasher.hash(password)
            with self._engine.begin() as connection:
                connection.execute(
                    update(_USERS)
                    .where(_USERS.c.id == user.id, _USERS.c.password_hash == user.password_hash)
                    .values(password_hash=new_hash)
                )
        except (OperationalError, InterfaceError, ProviderUnavailable):
            pass  # the old hash still works; upgrade on a later login

    def _identity(self, user: _StoredUser) -> Identity:
        return Identity(
            provider=self.id,
            subject=local_subject(user.id),
            username=user.username,
            email=user.email,
            display_name=user.display_name,
            groups=user.groups,
            overrides=user.overrides,
            attributes={MUST_CHANGE_PASSWORD: True} if user.must_change_password else {},
        )
