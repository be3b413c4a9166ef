"""The local user database as a password provider."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import selectinload, sessionmaker

from providers.base import Identity, ProviderUnavailable, Rejection
from providers.local.hashing import CappedHasher
from providers.local.models import LocalUser


class LocalProvider:
    """Checks passwords against argon2id hashes in the gateway's own database.

    Unknown users cost one dummy hash, so they take as long as a wrong password; a disabled
    account is only reported as such once its password was proven right.
    """

    def __init__(self, provider_id: str, sessions: sessionmaker, hasher: CappedHasher):
        self.id = provider_id
        self._sessions = sessions
        self._hasher = hasher

    def check_password(self, username: str, password: str) -> Identity | Rejection:
        user = self._load(username)
        if user is None:
            self._hasher.burn(password)
            return Rejection.NO_SUCH_USER
        if not self._hasher.verify(user.password_hash, password):
            return Rejection.WRONG_CREDENTIALS
        if not user.enabled:
            return Rejection.DISABLED
        if self._hasher.needs_rehash(user.password_hash):
            self._rehash(user.id, password)
        return self._identity(user)

    def lookup(self, username: str) -> Identity | Rejection:
        user = self._load(username)
        if user is None:
            return Rejection.NO_SUCH_USER
        if not user.enabled:
            return Rejection.DISABLED
        return self._identity(user)

    def _load(self, username: str) -> LocalUser | None:
        try:
            with self._sessions() as session:
                return session.scalars(
                    select(LocalUser).options(selectinload(LocalUser.groups))
                    .where(LocalUser.username == username)).one_or_none()
        except (OperationalError, InterfaceError) as error:
            raise ProviderUnavailable(self.id, f"database: {type(error).__name__}") from None

    def _rehash(self, user_id: int, password: str) -> None:
        new_hash = self._hasher.hash(password)
        try:
            with self._sessions.begin() as session:
                user = session.get(LocalUser, user_id)
                if user is not None:
                    user.password_hash = new_hash
        except (OperationalError, InterfaceError):
            pass  # the old hash still works; upgrade on a later login

    def _identity(self, user: LocalUser) -> Identity:
        return Identity(
            provider=self.id,
            subject=f"local:{user.id}",
            username=user.username,
            email=user.email,
            display_name=user.display_name,
            groups=tuple(group.name for group in user.groups),
            overrides=dict(user.overrides or {}),
        )
