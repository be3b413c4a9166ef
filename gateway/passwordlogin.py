"""One password login, with the per-account throttle: shared by the Registry's contract
endpoint, the admin API's ``POST /api/token`` and the browser's sign-in form, so every way in
counts failures against the same account."""

from __future__ import annotations

from gateway.federation import Denied
from gateway.services import Services
from gateway.throttle import Throttled
from providers.base import Identity

MAX_PASSWORD_CHARS = 1024  # longer is refused unhashed: bounds the cost of one attempt

__all__ = ["MAX_PASSWORD_CHARS", "Throttled", "password_login"]


def password_login(svc: Services, username: str, password: str) -> Identity:
    """The identity for ``username`` + ``password``. Raises Throttled, Denied (401/403), or
    the provider's ProviderUnavailable."""
    if len(password) > MAX_PASSWORD_CHARS:
        raise Denied(401, "password_too_long")
    svc.federation.check_typed_username(username)
    with svc.throttle.attempt(username) as attempt:
        try:
            identity = svc.federation.authenticate_password(username, password)
        except Denied as denied:
            if denied.counts_as_failure:
                attempt.failed()
            raise
        attempt.succeeded()
    return identity
