"""Managing local users and groups: the operations behind the CLI and the admin API.

Usernames arriving here are already canonical; the gateway checks that before calling.
Passwords are checked against the policy (with the account's username and email) and hashed
in their NFKC form (:mod:`providers.local.normalise`).
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from providers.local.hashing import CappedHasher
from providers.local.models import LocalGroup, LocalUser
from providers.local.policy import PasswordPolicy
from providers.sql import utcnow

GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
# What a caller adds to a change's transaction (its session, after the change's writes): e.g.
# the writes that change causes elsewhere, so that both commit together or not at all.
Also = Callable[[Session], None]


class UserError(ValueError):
    """A management request that cannot be carried out; the message is fit to show."""


@dataclass(frozen=True)
class UserView:
    username: str
    email: str | None
    display_name: str | None
    enabled: bool
    groups: tuple[str, ...]
    overrides: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    must_change_password: bool = False
    # "unverified" or "pending" for a self-registered account not yet admitted (then disabled).
    registration_state: str | None = None
    id: int | None = None


class LocalUsers:
    """Create, change and remove local users and groups."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        hasher: CappedHasher,
        policy: PasswordPolicy,
        on_change: Callable[[Session, str | None], None] | None = None,
    ):
        """``on_change(session, username)`` is called inside the transaction of every change
        to an existing user (None: possibly several users), so that what was proven about
        them before can be forgotten in the same commit."""
        self._sessions = sessions
        self._hasher = hasher
        self.policy = policy
        self._changed = on_change or (lambda _session, _username: None)

    def create(
        self,
        username: str,
        password: str,
        *,
        email: str | None = None,
        display_name: str | None = None,
        groups: Iterable[str] = (),
        overrides: dict[str, Any] | None = None,
        enforce_policy: bool = True,
        registration_state: str | None = None,
        temporary: bool = False,
    ) -> UserView:
        """A new user; with ``registration_state`` a self-registered one, disabled until
        admitted; ``temporary``: the password is one the user must change at the first
        sign-in."""
        if enforce_policy:
            self.policy.check(password, username, email)
        password_hash = self._hasher.hash(password)
        try:
            with self._sessions.begin() as session:
                user = LocalUser(
                    username=username,
                    email=email,
                    display_name=display_name,
                    password_hash=password_hash,
                    overrides=dict(overrides or {}),
                    enabled=registration_state is None,
                    registration_state=registration_state,
                    must_change_password=temporary,
                )
                user.groups = [self._require_group(session, name) for name in groups]
                session.add(user)
                session.flush()
                return _view(user)
        except IntegrityError:
            raise UserError(f"user {username!r} already exists") from None

    def get(self, username: str) -> UserView | None:
        with self._sessions() as session:
            user = self._find(session, username)
            return _view(user) if user else None

    def set_registration_state(self, username: str, state: str | None) -> None:
        """Move a self-registered user on: "pending" (still disabled) or None (admitted,
        enabled)."""
        with self._sessions.begin() as session:
            user = self._require(session, username)
            user.registration_state = state
            user.enabled = state is None
            self._changed(session, username)

    def registrations(self) -> builtins.list[UserView]:
        """Self-registered users not yet admitted, oldest first."""
        with self._sessions() as session:
            users = session.scalars(
                select(LocalUser)
                .options(selectinload(LocalUser.groups))
                .where(LocalUser.registration_state.is_not(None))
                .order_by(LocalUser.created_at)
            )
            return [_view(user) for user in users]

    def with_email(self, email: str) -> builtins.list[UserView]:
        """The users who have this address (compared without case), oldest first."""
        with self._sessions() as session:
            users = session.scalars(
                select(LocalUser)
                .options(selectinload(LocalUser.groups))
                .where(func.lower(LocalUser.email) == email.lower())
                .order_by(LocalUser.created_at)
            )
            return [_view(user) for user in users]

    def registered_before(self, state: str, cutoff: datetime) -> builtins.list[str]:
        """The usernames of self-registrations in ``state`` created before ``cutoff``."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(LocalUser.username).where(
                        LocalUser.registration_state == state, LocalUser.created_at < cutoff
                    )
                )
            )

    def hash_only(self, password: str) -> None:
        """Hash ``password`` and keep nothing: the work of :meth:`create`'s hashing, for a
        path that must take as long as creating an account without creating one."""
        self._hasher.hash(password)

    def must_change_password(self, username: str) -> bool:
        """Whether the user's password is a temporary one an admin set."""
        with self._sessions() as session:
            user = self._find(session, username)
            return bool(user and user.must_change_password)

    def list(self) -> list[UserView]:
        with self._sessions() as session:
            users = session.scalars(
                select(LocalUser).options(selectinload(LocalUser.groups)).order_by(LocalUser.username)
            )
            return [_view(user) for user in users]

    def count(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count(LocalUser.id))) or 0

    def set_password(self, username: str, password: str, *, temporary: bool = False) -> None:
        """Set the password (under the policy); ``temporary``: the user must change it at the
        next sign-in (any other set clears that)."""
        with self._sessions() as session:
            email = self._require(session, username).email
        self.policy.check(password, username, email)
        password_hash = self._hasher.hash(password)
        with self._sessions.begin() as session:
            user = self._require(session, username)
            user.password_hash = password_hash
            user.password_changed_at = utcnow()
            user.must_change_password = temporary
            self._changed(session, username)

    def update(
        self,
        username: str,
        *,
        email: str | None | object = ...,
        display_name: str | None | object = ...,
        groups: Iterable[str] | object = ...,
        overrides: dict[str, Any] | object = ...,
        also: Also | None = None,
    ) -> UserView:
        """Change the given fields (``...`` leaves one as it is); groups replace the membership,
        overrides the per-user values. ``also`` (here and below) runs last in the change's
        transaction, with its session."""
        with self._sessions.begin() as session:
            user = self._require(session, username)
            if overrides is not ...:
                user.overrides = dict(cast("dict[str, Any]", overrides))
            if email is not ...:
                user.email = cast("str | None", email)
            if display_name is not ...:
                user.display_name = cast("str | None", display_name)
            if groups is not ...:
                names = dict.fromkeys(cast("Iterable[str]", groups))
                user.groups = [self._require_group(session, name) for name in names]
            self._changed(session, username)
            session.flush()
            if also is not None:
                also(session)
            return _view(user)

    def verify_password(self, username: str, password: str) -> bool:
        """Whether ``password`` is the user's current password (for a change of one's own)."""
        with self._sessions() as session:
            user = self._find(session, username)
            stored = user.password_hash if user is not None else None
        return self._hasher.verify(stored, password) if stored else False  # NFKC, as a login

    def set_enabled(self, username: str, enabled: bool, also: Also | None = None) -> None:
        with self._sessions.begin() as session:
            self._require(session, username).enabled = enabled
            self._changed(session, username)
            if also is not None:
                session.flush()
                also(session)

    def set_overrides(self, username: str, overrides: dict[str, Any], also: Also | None = None) -> None:
        with self._sessions.begin() as session:
            self._require(session, username).overrides = dict(overrides)
            self._changed(session, username)
            if also is not None:
                also(session)

    def delete(self, username: str) -> None:
        with self._sessions.begin() as session:
            session.delete(self._require(session, username))
            self._changed(session, username)

    def create_group(self, name: str, description: str | None = None) -> None:
        """A new empty group; refused when its name is taken, also in another case
        (``Drone-Pilots`` beside ``drone-pilots``: two groups a rule compares as different
        while people read them as one)."""
        if not GROUP_NAME.fullmatch(name):
            raise UserError("group names are 1-64 characters: letters, digits and _ . @ + -")
        try:
            with self._sessions.begin() as session:
                alike = session.scalar(
                    select(LocalGroup.name).where(func.lower(LocalGroup.name) == name.lower()).limit(1)
                )
                if alike is not None and alike != name:
                    raise UserError(
                        f"group {alike!r} already exists; a name that differs only in upper and lower "
                        "case would be a second, different group"
                    )
                session.add(LocalGroup(name=name, description=description))
        except IntegrityError:
            raise UserError(f"group {name!r} already exists") from None

    def list_groups(self) -> builtins.list[tuple[str, builtins.list[str]]]:  # list: the method above
        with self._sessions() as session:
            groups = session.scalars(
                select(LocalGroup).options(selectinload(LocalGroup.members)).order_by(LocalGroup.name)
            )
            return [(group.name, [member.username for member in group.members]) for group in groups]

    def delete_group(self, name: str, also: Also | None = None) -> None:
        with self._sessions.begin() as session:
            session.delete(self._require_group(session, name))
            self._changed(session, None)
            if also is not None:
                also(session)

    def add_member(self, group: str, username: str, also: Also | None = None) -> None:
        with self._sessions.begin() as session:
            user = self._require(session, username)
            found = self._require_group(session, group)
            if found not in user.groups:
                user.groups.append(found)
                self._changed(session, username)
            if also is not None:
                also(session)

    def remove_member(self, group: str, username: str, also: Also | None = None) -> None:
        with self._sessions.begin() as session:
            user = self._require(session, username)
            found = self._require_group(session, group)
            if found in user.groups:
                user.groups.remove(found)
                self._changed(session, username)
            if also is not None:
                also(session)

    @staticmethod
    def _find(session: Session, username: str) -> LocalUser | None:
        return session.scalars(
            select(LocalUser).options(selectinload(LocalUser.groups)).where(LocalUser.username == username)
        ).one_or_none()

    def _require(self, session: Session, username: str) -> LocalUser:
        user = self._find(session, username)
        if user is None:
            raise UserError(f"no local user {username!r}")
        return user

    @staticmethod
    def _require_group(session: Session, name: str) -> LocalGroup:
        group = session.scalars(select(LocalGroup).where(LocalGroup.name == name)).one_or_none()
        if group is None:
            alike = session.scalar(
                select(LocalGroup.name).where(func.lower(LocalGroup.name) == name.lower()).limit(1)
            )
            raise UserError(f"no group {name!r}" + (f" (there is {alike!r})" if alike else ""))
        return group


def _view(user: LocalUser) -> UserView:
    return UserView(
        username=user.username,
        email=user.email,
        display_name=user.display_name,
        enabled=user.enabled,
        groups=tuple(group.name for group in user.groups),
        overrides=dict(user.overrides or {}),
        created_at=user.created_at,
        updated_at=user.updated_at,
        must_change_password=bool(user.must_change_password),
        registration_state=user.registration_state,
        id=user.id,
    )
