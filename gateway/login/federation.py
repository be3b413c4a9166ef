"""Which provider answers for a username, and the rules every login passes through.

Password path: the typed username must be canonical; if it has an owner, only the owning
provider is asked; otherwise the password providers are asked in configured order and the first
one that knows the user decides (a provider that is down stops the search with a 503: the
gateway cannot know whether the user was its). The identity then claims its username.

App passwords (``gwap_...``, see :mod:`gateway.login.apppasswords`) are checked by the gateway itself
for the username's owner, whatever its provider; the answer is then built from the owner's
current identity (looked up where the provider can, else the snapshot of the last browser login).

Token path: the identity is the snapshot stored with the session at login, and the mapping is
re-run on it for every token, so rule changes apply at once. A session or app password whose
provider is no longer in force (disabled or removed) is refused (:meth:`Federation.in_force`).
Changes of a local user's groups and values, and the groups a directory sync finds, rewrite
that snapshot in their own transaction (:mod:`gateway.login.sessionidentity`); a directory
change no sync has seen reaches it at the next login. Disabling or deleting a user revokes their
sessions, which is what makes the snapshot safe to use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from gateway.login.accounts import AccountRegistry, Owner, UsernameTaken
from gateway.login.apppasswords import AppPasswords, looks_like_app_password
from gateway.login.usernames import UsernamePolicy
from gateway.observe.audit import AuditLog
from providers.base import Identity, IdentityLookup, PasswordProvider, Rejection
from providers.sql import utcnow

log = logging.getLogger(__name__)


class Provider(Protocol):
    """What the federation needs of every configured provider: its id. What else a provider
    can do is told by the capability protocols of :mod:`providers.base`."""

    @property
    def id(self) -> str: ...


@dataclass
class Denied(Exception):
    """A login refused. ``status`` is 401 (credentials) or 403 (valid, not allowed);
    ``reason`` is a short class for logs and audit, never shown to the user as detail."""

    status: int
    reason: str
    counts_as_failure: bool = False


class Federation:
    def __init__(
        self,
        providers: Sequence[Provider],
        accounts: AccountRegistry,
        audit: AuditLog,
        usernames: UsernamePolicy,
        app_passwords: AppPasswords | None = None,
        *,
        reserved: Iterable[str] = (),
        snapshot_max_age: timedelta = timedelta(days=30),
    ):
        self.replace_providers(providers)
        self._accounts = accounts
        self._audit = audit
        self._app_passwords = app_passwords
        # Names (the bootstrap admin's) that only a password provider may own: an IdP user
        # who can choose their own preferred_username must not become the Registry's admin.
        self._reserved = frozenset(reserved)
        self._snapshot_max_age = snapshot_max_age
        self.usernames = usernames

    def replace_providers(self, providers: Sequence[Provider]) -> None:
        """Ask ``providers`` (in this order) from now on: a provider set changed by an admin.
        A login under way finishes with the providers it started with."""
        by_id = {provider.id: provider for provider in providers}
        # Capabilities are checked once here: isinstance on a runtime Protocol costs ~13 us.
        password_order = [p for p in providers if isinstance(p, PasswordProvider)]
        # Each attribute is swapped whole, so a reader sees an old or a new set, never a mix
        # that breaks it (at worst one login asks the old order).
        self._providers = by_id
        self._password_order = password_order
        self._password_by_id = {p.id: p for p in password_order}

    def provider(self, provider_id: str) -> Provider | None:
        return self._providers.get(provider_id)

    def in_force(self, provider_id: str) -> bool:
        """Whether ``provider_id`` is among the providers in force now (not disabled, not
        removed): what a session or app password of its users needs to be accepted."""
        return provider_id in self._providers

    def providers(self) -> list[Provider]:
        """Every configured provider, in configured order."""
        return list(self._providers.values())

    def check_typed_username(self, typed: str) -> None:
        """Refuse a username that is not exactly canonical (contract §2.1)."""
        if not self.usernames.is_canonical(typed):
            log.info(
                "refused non-canonical username spelling (canonical form: %r)",
                self.usernames.canonical(typed),
            )
            raise Denied(401, "non_canonical_username")

    def authenticate_password(self, username: str, password: str) -> Identity:
        """The identity for a canonical username and its password, or Denied.

        Raises ProviderUnavailable when the provider that must decide cannot be reached.
        """
        return self.prove_password(username, password)[0]

    def prove_password(self, username: str, password: str) -> tuple[Identity, datetime | None]:
        """:meth:`authenticate_password`, and until when the proof holds: an app password's
        expiry, None for a password (it holds until something changes)."""
        if not password or not password.strip():
            raise Denied(401, "empty_password")
        owner = self._accounts.owner_of(username)
        if self._app_passwords is not None and looks_like_app_password(password):
            return self._authenticate_app_password(self._app_passwords, username, password, owner)
        candidates = self._candidates(owner.provider if owner else None)
        result: Identity | Rejection = Rejection.NO_SUCH_USER
        asked: set[str] = set()
        for provider in candidates:
            asked.add(provider.id)
            result = provider.check_password(username, password)
            if result is not Rejection.NO_SUCH_USER:
                break
        if isinstance(result, Rejection):
            self._burn_unasked(asked, password)
        if result is Rejection.DISABLED:
            raise Denied(403, "account_disabled")
        if isinstance(result, Rejection):
            raise Denied(401, result.value, counts_as_failure=True)
        if result.username != username:
            log.warning(
                "provider %s returned username %r for %r; refusing",
                result.provider,
                result.username,
                username,
            )
            raise Denied(401, "provider_username_mismatch", counts_as_failure=True)
        return self.admit(result, owner), None

    def _authenticate_app_password(
        self, app_passwords: AppPasswords, username: str, password: str, owner: Owner | None
    ) -> tuple[Identity, datetime | None]:
        """The owner's current identity for one of their app passwords, or Denied. Its last use
        is recorded only after every check here has passed (username, owner, disabled, snapshot
        age), so a login refused here is not shown as a use."""
        match = app_passwords.find(password)  # first: the same work either way
        if owner is None or match is None or match.username != username:
            self._burn_unasked(set(), password)
            raise Denied(401, "wrong_app_password", counts_as_failure=True)
        identity, snapshot_until = self._current_identity(owner)
        app_passwords.touch(match)
        deadlines = [moment for moment in (match.expires_at, snapshot_until) if moment is not None]
        return identity, min(deadlines, default=None)

    def current_identity(self, owner: Owner) -> Identity:
        """The present identity of a username's owner, for a credential that is not a password
        the provider can check (an app password, an API key). Asks the provider where it can
        (local, LDAP); for an IdP, answers from the last browser login while it is recent, so a
        person removed at the IdP loses access within snapshot_max_age. Raises Denied, also when
        the owner's provider is no longer in force."""
        return self._current_identity(owner)[0]

    def _current_identity(self, owner: Owner) -> tuple[Identity, datetime | None]:
        """:meth:`current_identity`, and until when an IdP's snapshot may answer (None for a
        provider that was asked)."""
        provider = self._providers.get(owner.provider)
        if provider is None:
            # Its provider was disabled or removed: the snapshot of an IdP login must not keep
            # answering for it (a provider added again under the same id takes over).
            raise Denied(401, "provider_not_in_force")
        until = None
        if isinstance(provider, IdentityLookup):
            current = provider.lookup(owner.username)
        else:
            snapshot = self._accounts.snapshot(owner.username)
            if snapshot is None:
                current = Rejection.NO_SUCH_USER
            elif utcnow() - snapshot[1] > self._snapshot_max_age:
                raise Denied(403, "browser_login_required")
            else:
                current, until = snapshot[0], snapshot[1] + self._snapshot_max_age
        if current is Rejection.DISABLED:
            raise Denied(403, "account_disabled")
        if isinstance(current, Rejection) or (current.provider, current.subject) != (
            owner.provider,
            owner.subject,
        ):
            raise Denied(401, "app_password_owner_gone", counts_as_failure=True)
        return self.admit(current, owner), until

    def _burn_unasked(self, asked: set[str], password: str) -> None:
        """Give a failed login the cost of asking every password provider.

        An unknown username is asked of every provider, each doing its dummy work (a dummy
        hash, a dummy bind); a known one stops at its provider. Without this, a wrong
        password would be measurably faster than an unknown user whenever more than one
        provider is configured, which tells an attacker which usernames exist.
        """
        for provider in self._password_order:
            if provider.id not in asked and hasattr(provider, "burn"):
                provider.burn(password)

    def admit(self, identity: Identity, owner: Owner | None = None) -> Identity:
        """Claim the identity's username and check the account is enabled at the gateway.

        ``owner`` is the ownership record already read for this username, if any.
        """
        if identity.username in self._reserved and identity.provider not in self._password_by_id:
            self._audit.record(
                "username_collision",
                "refused",
                username=identity.username,
                provider=identity.provider,
                owner="reserved",
            )
            raise Denied(403, "reserved_username")
        try:
            owner = self._accounts.claim(identity, known=owner)
        except UsernameTaken as taken:
            self._audit.record(
                "username_collision",
                "refused",
                username=identity.username,
                provider=identity.provider,
                owner=taken.owner_provider,
            )
            raise Denied(403, "username_owned_by_other_provider") from None
        if owner.disabled:
            raise Denied(403, "account_disabled")
        return identity

    def _candidates(self, owner_provider: str | None) -> list[PasswordProvider]:
        if owner_provider is None:
            return self._password_order
        # An owner that checks no passwords (an SSO-only identity) gets no password logins.
        if owner_provider not in self._password_by_id:
            return []
        return [self._password_by_id[owner_provider]]
