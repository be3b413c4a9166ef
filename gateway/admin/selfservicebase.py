"""What the self-service features (password reset by e-mail, self-registration) share: the
services they work with, the request throttle, and how a typed name or address is compared."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass

from gateway.admin.linktokens import LinkTokens
from gateway.admin.useroperations import UserService
from gateway.config.email import SelfServiceSettings
from gateway.mail.service import Mail
from gateway.observe.audit import AuditLog
from gateway.storage.db import Database
from gateway.storage.state import StateStore
from providers.local.users import LocalUsers

MAX_IDENTIFIER_CHARS = 320


class RequestThrottle:
    """At most ``limit`` requests per key in a window, counted in the state store. Keys are
    hashed: no address or client address is kept in clear."""

    def __init__(self, store: StateStore, settings: SelfServiceSettings):
        self._store = store
        self._settings = settings

    def allow(self, scope: str, value: str, limit: int) -> bool:
        key = "selfsvc:" + scope + ":" + hashlib.sha256(value.encode()).hexdigest()[:32]
        return self._store.incr(key, float(self._settings.throttle_window_seconds)) <= limit


def normalised_identifier(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().lower()[:MAX_IDENTIFIER_CHARS]


@dataclass(frozen=True)
class SelfServiceDeps:
    """The services a self-service feature works with (``local_users`` is None without a
    local provider; ``public_url`` is where links in mails point)."""

    settings: SelfServiceSettings
    database: Database
    mail: Mail
    tokens: LinkTokens
    throttle: RequestThrottle
    local_users: LocalUsers | None
    operations: UserService
    audit: AuditLog
    public_url: str


class SelfServiceFeature:
    """What :class:`gateway.admin.passwordreset.PasswordReset` and
    :class:`gateway.admin.registration.Registration` keep of their dependencies."""

    def __init__(self, deps: SelfServiceDeps):
        self._database = deps.database
        self._mail = deps.mail
        self._tokens = deps.tokens
        self._throttle = deps.throttle
        self._local_users = deps.local_users
        self._operations = deps.operations
        self._audit = deps.audit
        self._public_url = deps.public_url.rstrip("/")
