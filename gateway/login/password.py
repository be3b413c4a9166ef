"""One password login, with the per-account throttle: shared by the Registry's contract
endpoint, the admin API's ``POST /api/token`` and the browser's sign-in form, so every way in
counts failures against the same account."""

from __future__ import annotations

from datetime import datetime

from gateway.login.apppasswords import looks_like_app_password
from gateway.login.federation import Denied
from gateway.login.throttle import Throttled
from gateway.services import Services
from providers.base import Identity

MAX_PASSWORD_CHARS = 1024  # longer is refused unhashed: bounds the cost of one attempt

__all__ = ["MAX_PASSWORD_CHARS", "Throttled", "password_login", "registry_password_login"]


def password_login(svc: Services, username: str, password: str) -> Identity:
    """The identity for ``username`` + ``password``, verified in full. Raises Throttled,
    Denied (401/403), or the provider's ProviderUnavailable."""
    if len(password) > MAX_PASSWORD_CHARS:
        raise Denied(401, "password_too_long")
    svc.federation.check_typed_username(username)
    return _verified(svc, username, password)[0]


def registry_password_login(svc: Services, username: str, password: str) -> tuple[Identity, bool]:
    """The Registry's password path (the tile hot path): ``(identity, from_cache)``.

    Exactly these credentials, proven within their TTL, are answered from the verified-
    credentials cache (:mod:`gateway.login.credcache`) without verifying them again, as long as the
    account has no recent failures. With failures, even cached credentials are verified in full
    under the throttle: a lock-out refuses them (or a locked account would still tell a right
    guess, 200, from a wrong one, 429), and a right password resets the count (or a trickle of
    wrong guesses would add up, past the user's own tile logins, to a lock-out). Anything else
    is :func:`password_login`, remembered when it succeeds.
    """
    if len(password) > MAX_PASSWORD_CHARS:
        raise Denied(401, "password_too_long")
    svc.federation.check_typed_username(username)
    cache = svc.credentials
    if not cache.enabled:
        return _verified(svc, username, password)[0], False
    generation = cache.generation()
    identity = cache.lookup(username, password)
    if identity is not None and not svc.throttle.has_failures(username):
        return identity, True
    identity, valid_until = _verified(svc, username, password)
    cache.remember(
        username,
        password,
        identity,
        app_password=looks_like_app_password(password),
        generation=generation,
        valid_until=valid_until,
    )
    return identity, False


def _verified(svc: Services, username: str, password: str) -> tuple[Identity, datetime | None]:
    """Verify under a throttle reservation (a failure counts, a success resets the count):
    the identity and until when the proof holds (see Federation.prove_password)."""
    with svc.throttle.attempt(username) as attempt:
        try:
            proven = svc.federation.prove_password(username, password)
        except Denied as denied:
            if denied.counts_as_failure:
                attempt.failed()
            raise
        attempt.succeeded()
    return proven
