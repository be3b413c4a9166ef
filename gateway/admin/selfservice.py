"""What any signed-in person may do for themselves: see what the Registry receives for them,
and manage their own app passwords (for ``ddb login``) and personal API keys (for the admin
API).

The admin API's ``/me`` endpoints and the account page (``/account``) both go through
:class:`OwnSecrets`, so a secret made or revoked either way is checked and audited alike. A new
secret is made only for a caller who signed in (a session token or the browser's session), never
for one who came in with an API key: a leaked key must not be able to mint its own replacements and
outlive its revocation. Listing and revoking work either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from gateway.admin.errors import AdminError
from gateway.login.answer import build_answer
from gateway.login.apppasswords import AppPasswordError, AppPasswords, AppPasswordView
from gateway.mapping import Evaluation
from gateway.observe.audit import AuditLog

PUBLIC_ID = re.compile(r"[a-z0-9]{12}")  # the shape every app password and key id has


def summary(
    username: str, provider: str | None, evaluation: Evaluation | None, admin: bool
) -> dict[str, Any]:
    """The caller as the Registry sees them: roles, quota, and the exact answer of a login
    (None when a require rule refuses them)."""
    granted = evaluation if evaluation is not None and not evaluation.denied else None
    return {
        "userName": username,
        "provider": provider,
        "admin": admin,
        "roles": list(granted.roles) if granted else [],
        "maxStorageMB": granted.max_storage_mb if granted else None,
        "denied": granted is None,
        "answer": build_answer(username, granted) if granted else None,
    }


@dataclass(frozen=True)
class Kind:
    """App passwords or API keys: their name, and the words for audit and messages."""

    store: str  # the name of the kind's store; route endpoints are named after it
    created: str  # audit event names
    revoked: str
    detail_key: str
    noun: str


APP_PASSWORDS = Kind(
    "app_passwords", "app_password_created", "app_password_revoked", "app_password", "app password"
)
API_KEYS = Kind("api_keys", "api_key_created", "api_key_revoked", "api_key", "API key")


class OwnSecrets:
    """One person's app passwords or API keys."""

    def __init__(self, store: AppPasswords, audit: AuditLog, kind: Kind):
        self._store = store
        self._audit = audit
        self._kind = kind

    def list(self, username: str) -> list[AppPasswordView]:
        """The person's secrets that are not revoked (expired ones included), newest first."""
        return self._store.list(username)

    def create(
        self, username: str, name: str, expires_days: int | None, *, via: str
    ) -> tuple[AppPasswordView, str]:
        """A new secret: its view and the secret, which is returned only here. ``via`` is
        how the caller came in (``token``, ``browser``: a session; ``api_key``): 403 for an API
        key; 400 (field ``name`` or ``expiresDays``) for a bad name or lifetime, or too many."""
        if via not in ("token", "browser"):
            raise AdminError(
                403,
                f"sign in with a password or the browser to create an "
                f"{self._kind.noun}; an API key cannot make new secrets",
            )
        lifetime = timedelta(days=expires_days) if expires_days is not None else None
        try:
            view, secret = self._store.create(username, name, lifetime)
        except AppPasswordError as error:
            field = "expiresDays" if "expiry" in str(error) else "name"
            raise AdminError(400, str(error), field) from None
        self._audit.record(
            self._kind.created, "ok", username=username, actor=username, **{self._kind.detail_key: view.id}
        )
        return view, secret

    def revoke(self, username: str, public_id: str) -> None:
        """Revoke one of the person's secrets (404 when they have no such active one)."""
        if not PUBLIC_ID.fullmatch(public_id) or not self._store.revoke(username, public_id):
            raise AdminError(404, f"no such {self._kind.noun}")
        self._audit.record(
            self._kind.revoked, "ok", username=username, actor=username, **{self._kind.detail_key: public_id}
        )
