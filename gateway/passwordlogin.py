"""One password login, with the per-account throttle: shared by the Registry's contract
endpoint, the admin API's ``POST /api/token`` and the browser's sign-in form, so every way in
counts failures against the same account."""

from __future__ import annotations

from gateway.apppasswords import looks_like_app_password
from gateway.federation import Denied
from gateway.services import Services
from gateway.throttle import Throttled
from providers.base import Identity

MAX_PASSWORD_CHARS = 1024  # longer is refused unhashed: bounds the cost of one attempt

__all__ = ["MAX_PASSWORD_CHARS", "Throttled", "password_login", "registry_password_login"]


def password_login(svc: Services, username: str, password: str) -> Identity:
    """The identity for ``username`` + ``password``, verified in full. Raises Throttled,
    Denied (401/403), or the provider's ProviderUnavailable."""
    if len(password) > MAX_PASSWORD_CHARS:
        raise Denied(401, "password_too_long")
    svc.federation.check_typed_username(username)
    return _verified(svc, username, password)


def registry_password_login(svc: Services, username: str, password: str) -> tuple[Identity, bool]:
    """The Registry's password path (the tile hot path): ``(identity, from_cache)``.

    Exactly these credentials, proven within their TTL, are answered from the verified-
    credentials cache (:mod:`gateway.credcache`) without verifying them again, unless the
    account is locked out: a lock-out refuses hits too, or a locked account would still tell a
    right guess (200) from a wrong one (429). A hit neither counts nor resets failures. Anything
    else is :func:`password_login`, remembered when it succeeds.
    """
    if len(password) > MAX_PASSWORD_CHARS:
        raise Denied(401, "password_too_long")
    svc.federation.check_typed_username(username)
    cache = svc.credentials
    if not cache.enabled:
        return _verified(svc, username, password), False
    identity = cache.lookup(username, password)
    if identity is not None:
        wait = svc.throttle.wait_seconds(username)
        if wait > 0:
            raise Throttled(wait)
        return identity, True
    generation = cache.generation()
    identity = _verified(svc, username, password)
    cache.remember(username, password, identity,
                   app_password=looks_like_app_password(password), generation=generation)
    return identity, False


def _verified(svc: Services, username: str, password: str) -> Identity:
    """Verify under a throttle reservation: a failure counts, a success resets the count."""
    with svc.throttle.attempt(username) as attempt:
        try:
            identity = svc.federation.authenticate_password(username, password)
        except Denied as denied:
            if denied.counts_as_failure:
                attempt.failed()
            raise
        attempt.succeeded()
    return identity
