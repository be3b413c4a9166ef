"""Password verification with the per-account throttle: every way in that takes a password
(the Registry's password path, ``POST /api/token``, the browser's sign-in form) counts
failures against the same account through :class:`PasswordCheck`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from gateway.login.apppasswords import looks_like_app_password
from gateway.login.credcache import VerifiedCredentials
from gateway.login.federation import Denied, Federation
from gateway.login.throttle import AccountThrottle
from providers.base import MUST_CHANGE_PASSWORD, Identity

MAX_PASSWORD_CHARS = 1024  # longer is refused unhashed: bounds the cost of one attempt


class PasswordCheck:
    def __init__(
        self,
        federation: Federation,
        throttle: AccountThrottle,
        credentials: VerifiedCredentials,
        refuses_own_password: Callable[[Identity], str | None] | None = None,
    ):
        """``refuses_own_password(identity)``: why the Registry's password path refuses that
        account's own password (a Denied reason: it has a second factor, or must set one up),
        or None; app passwords still work."""
        self._federation = federation
        self._throttle = throttle
        self._credentials = credentials
        self._refuses_own_password = refuses_own_password

    def verify(self, username: str, password: str) -> Identity:
        """The identity for ``username`` + ``password``, verified in full. Raises
        gateway.login.throttle.Throttled, Denied (401/403), or the provider's
        ProviderUnavailable."""
        self._check_shape(username, password)
        return self._verified(username, password)[0]

    def verify_for_registry(self, username: str, password: str) -> tuple[Identity, bool]:
        """The Registry's password path (the tile hot path): ``(identity, from_cache)``.

        Exactly these credentials, proven within their TTL, are answered from the verified-
        credentials cache (:mod:`gateway.login.credcache`) without verifying them again, as long
        as the account has no recent failures. With failures, even cached credentials are
        verified in full under the throttle: a lock-out refuses them (or a locked account would
        still tell a right guess, 200, from a wrong one, 429), and a right password resets the
        count (or a trickle of wrong guesses would add up, past the user's own tile logins, to a
        lock-out). Anything else is :meth:`verify`, remembered when it succeeds.
        """
        self._check_shape(username, password)
        cache = self._credentials
        if not cache.enabled:
            verified = self._verified(username, password)[0]
            self._refuse_second_factor_accounts(verified, password)
            return verified, False
        generation = cache.generation()
        identity = cache.lookup(username, password)
        if identity is not None and not self._throttle.has_failures(username):
            return identity, True
        identity, valid_until = self._verified(username, password)
        if identity.attributes.get(MUST_CHANGE_PASSWORD):
            return identity, False  # never cached: it is refused until the password changes
        # Before remembering: a refused account is never answered from the cache. Enrolling
        # a factor writes a credential change, so what was cached before is forgotten.
        self._refuse_second_factor_accounts(identity, password)
        cache.remember(
            username,
            password,
            identity,
            app_password=looks_like_app_password(password),
            generation=generation,
            valid_until=valid_until,
        )
        return identity, False

    def _refuse_second_factor_accounts(self, identity: Identity, password: str) -> None:
        """Denied 403 when ``password`` is the account's own and the account has, or must set
        up, a second factor the Registry cannot ask for. Only after the password proved right:
        a wrong one is a 401 as for everyone, so the answer tells a guesser nothing about the
        account. Never reached from a cache hit: a refused login is never remembered."""
        if self._refuses_own_password is None or looks_like_app_password(password):
            return
        reason = self._refuses_own_password(identity)
        if reason is not None:
            raise Denied(403, reason)

    def _check_shape(self, username: str, password: str) -> None:
        if len(password) > MAX_PASSWORD_CHARS:
            raise Denied(401, "password_too_long")
        self._federation.check_typed_username(username)

    def _verified(self, username: str, password: str) -> tuple[Identity, datetime | None]:
        """Verify under a throttle reservation (a failure counts, a success resets the count):
        the identity and until when the proof holds (see Federation.prove_password)."""
        with self._throttle.attempt(username) as attempt:
            try:
                proven = self._federation.prove_password(username, password)
            except Denied as denied:
                if denied.counts_as_failure:
                    attempt.failed()
                raise
            attempt.succeeded()
        return proven
