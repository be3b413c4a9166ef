"""One password login, with the per-account throttle: shared by the Registry's contract
endpoint, the admin API's ``POST /api/token`` and the browser's sign-in form, so every way in
counts failures against the same account."""

from __future__ import annotations

from gateway.federation import Denied
from gateway.services import Services
from providers.base import Identity

MAX_PASSWORD_CHARS = 1024  # longer is refused unhashed: bounds the cost of one attempt


class Throttled(Exception):
    """Too many recent failures for this account; try again in ``wait_seconds``."""

    def __init__(self, wait_seconds: float):
        super().__init__(f"throttled for {wait_seconds:.1f} s")
        self.wait_seconds = wait_seconds


def password_login(svc: Services, username: str, password: str) -> Identity:
    """The identity for ``username`` + ``password``. Raises Throttled, Denied (401/403), or
    the provider's ProviderUnavailable."""
    if len(password) > MAX_PASSWORD_CHARS:
        raise Denied(401, "password_too_long")
    svc.federation.check_typed_username(username)
    wait = svc.throttle.wait_seconds(username)
    if wait > 0:
        raise Throttled(wait)
    try:
        identity = svc.federation.authenticate_password(username, password)
    except Denied as denied:
        if denied.counts_as_failure:
            svc.throttle.record_failure(username)
        raise
    svc.throttle.record_success(username)
    return identity
