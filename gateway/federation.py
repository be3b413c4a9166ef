"""Which provider answers for a username, and the rules every login passes through.

Password path: the typed username must be canonical; if it has an owner, only the owning
provider is asked; otherwise the password providers are asked in configured order and the first
one that knows the user decides (a provider that is down stops the search with a 503: the
gateway cannot know whether the user was its). The identity then claims its username.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

from gateway.accounts import AccountRegistry, UsernameTaken
from gateway.audit import AuditLog
from gateway.usernames import UsernamePolicy
from providers.base import Identity, IdentityLookup, PasswordProvider, Rejection

log = logging.getLogger(__name__)


@dataclass
class Denied(Exception):
    """A login refused. ``status`` is 401 (credentials) or 403 (valid, not allowed);
    ``reason`` is a short class for logs and audit, never shown to the user as detail."""

    status: int
    reason: str
    counts_as_failure: bool = False


class Federation:
    def __init__(self, providers: Sequence[object], accounts: AccountRegistry, audit: AuditLog,
                 usernames: UsernamePolicy):
        self._providers = {provider.id: provider for provider in providers}
        self._password_order = [p for p in providers if isinstance(p, PasswordProvider)]
        self._accounts = accounts
        self._audit = audit
        self.usernames = usernames

    def provider(self, provider_id: str) -> object | None:
        return self._providers.get(provider_id)

    def check_typed_username(self, typed: str) -> None:
        """Refuse a username that is not exactly canonical (contract §2.1)."""
        if not self.usernames.is_canonical(typed):
            log.info("refused non-canonical username spelling (canonical form: %r)",
                     self.usernames.canonical(typed))
            raise Denied(401, "non_canonical_username")

    def authenticate_password(self, username: str, password: str) -> Identity:
        """The identity for a canonical username and its password, or Denied.

        Raises ProviderUnavailable when the provider that must decide cannot be reached.
        """
        if not password or not password.strip():
            raise Denied(401, "empty_password")
        owner = self._accounts.owner_of(username)
        candidates = self._candidates(owner.provider if owner else None)
        result: Identity | Rejection = Rejection.NO_SUCH_USER
        for provider in candidates:
            result = provider.check_password(username, password)
            if result is not Rejection.NO_SUCH_USER:
                break
        if result is Rejection.DISABLED:
            raise Denied(403, "account_disabled")
        if isinstance(result, Rejection):
            raise Denied(401, result.value, counts_as_failure=True)
        if result.username != username:
            log.warning("provider %s returned username %r for %r; refusing",
                        result.provider, result.username, username)
            raise Denied(401, "provider_username_mismatch", counts_as_failure=True)
        return self.admit(result)

    def admit(self, identity: Identity) -> Identity:
        """Claim the identity's username and check the account is enabled at the gateway."""
        try:
            owner = self._accounts.claim(identity)
        except UsernameTaken as taken:
            self._audit.record("username_collision", "refused", username=identity.username,
                               provider=identity.provider, owner=taken.owner_provider)
            raise Denied(403, "username_owned_by_other_provider") from None
        if owner.disabled:
            raise Denied(403, "account_disabled")
        return identity

    def refresh(self, identity: Identity) -> Identity:
        """The current identity for a stored snapshot, when its provider can look users up.

        Raises Denied when the user is gone or disabled; ProviderUnavailable passes through.
        """
        provider = self._providers.get(identity.provider)
        if provider is None:
            raise Denied(401, "provider_removed")
        if not isinstance(provider, IdentityLookup):
            current = identity
        else:
            found = provider.lookup(identity.username)
            if found is Rejection.DISABLED:
                raise Denied(403, "account_disabled")
            if isinstance(found, Rejection) or found.subject != identity.subject:
                raise Denied(401, "user_gone")
            current = found
        owner = self._accounts.owner_of(current.username)
        if owner is not None and owner.disabled:
            raise Denied(403, "account_disabled")
        return current

    def _candidates(self, owner_provider: str | None) -> list[PasswordProvider]:
        if owner_provider is None:
            return self._password_order
        provider = self._providers.get(owner_provider)
        # An owner that checks no passwords (an SSO-only identity) gets no password logins.
        return [provider] if isinstance(provider, PasswordProvider) else []
