"""OpenID Connect Back-Channel Logout 1.0, received: an IdP tells the gateway, server to server,
that a person's session at the IdP has ended.

Everything in the request is hostile until the provider has verified the logout token
(:meth:`providers.base.BackchannelLogoutReceiver.verify_logout_token`: signature with a pinned
algorithm and a key of the IdP's JWKS, ``iss``, ``aud`` = client_id, ``exp`` when present,
``iat`` freshness, the logout event, ``sub``/``sid``, no ``nonce``). Then its ``jti`` is spent once,
on every replica, with a set-if-absent in the shared state store, kept until the token could
no longer verify; only then does the one user operation for it
(:meth:`gateway.admin.useroperations.UserService.end_idp_login`) end what the provider's
policy says. If that operation fails, the mark is taken back, so the IdP's retry can succeed.

The request is bounded in size (the app's body limit, and :data:`MAX_LOGOUT_TOKEN_CHARS`), the
IdP's keys are fetched again at most every ``jwks_min_refresh_seconds`` whatever the ``kid``s
sent, and refusals are audited at most :data:`MAX_AUDITED_REFUSALS` times per
:data:`REFUSAL_WINDOW_SECONDS` per client address (the rest are counted in the log), so a flood
of garbage neither fills the audit trail nor, as a lock-out would, blocks the IdP's genuine
logouts arriving through the same proxy.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.admin.useroperations import IdpLogoutResult, UserService
from gateway.login.federation import Federation
from gateway.observe.audit import AuditLog
from gateway.storage.state import StateStore
from providers.base import BackchannelLogoutReceiver, LoginRejected, ProviderUnavailable

log = logging.getLogger(__name__)

ACTOR = "idp:backchannel-logout"
MAX_AUDITED_REFUSALS = 30
REFUSAL_WINDOW_SECONDS = 60.0
# A spent jti is remembered this long past the token's own end, for clocks that disagree.
JTI_CLOCK_MARGIN_SECONDS = 300.0
MAX_LOGOUT_TOKEN_CHARS = 16384


@dataclass
class LogoutRefused(Exception):
    """A logout request the gateway will not act on: ``status`` (400, 404, 503) and a
    short ``error`` code for the JSON answer (never the token, never more than the code)."""

    status: int
    error: str
    reason: str


class BackchannelLogouts:
    """Receives logout tokens for the providers that have back-channel logout enabled."""

    def __init__(
        self,
        federation: Federation,
        store: StateStore,
        operations: Callable[[], UserService],
        audit: AuditLog,
        *,
        clock: Callable[[], float] = time.time,
    ):
        self._federation = federation
        self._store = store
        self._operations = operations
        self._audit = audit
        self._clock = clock

    def receivers(self) -> list[BackchannelLogoutReceiver]:
        """The providers whose back-channel logout is enabled."""
        return [
            provider
            for provider in self._federation.providers()
            if isinstance(provider, BackchannelLogoutReceiver) and provider.logout_policy is not None
        ]

    def receive(self, provider_id: str, token: str | None, client: str) -> IdpLogoutResult:
        """Act on the logout token ``token`` that ``client`` (its address) posted for
        ``provider_id``. LogoutRefused: 404 for a provider without back-channel logout, 400
        for a missing or bad token (audited with the reason), a replayed ``jti`` among them;
        503 when the IdP's keys cannot be fetched (StoreUnavailable, the state store down,
        is raised as is)."""
        provider = self._federation.provider(provider_id)
        policy = provider.logout_policy if isinstance(provider, BackchannelLogoutReceiver) else None
        if provider is None or policy is None:
            raise LogoutRefused(404, "not_found", "unknown_provider")
        assert isinstance(provider, BackchannelLogoutReceiver)
        throttle_key = "bcl:refused:" + _digest(client)
        if not token or len(token) > MAX_LOGOUT_TOKEN_CHARS:
            raise self._refused(provider_id, throttle_key, "invalid_request", "missing_token")
        try:
            notice = provider.verify_logout_token(token)
        except LoginRejected as rejected:
            raise self._refused(provider_id, throttle_key, "invalid_request", rejected.reason) from None
        except ProviderUnavailable as error:
            log.warning("backchannel logout: provider %s unavailable: %s", provider_id, error.reason)
            raise LogoutRefused(503, "temporarily_unavailable", "provider_unavailable") from None
        mark = "bcl:jti:" + _digest(f"{provider_id}\x00{notice.token_id}")
        remaining = max(notice.expires_at - self._clock(), 0.0)
        if not self._store.add(mark, "1", remaining + JTI_CLOCK_MARGIN_SECONDS):
            raise self._refused(provider_id, throttle_key, "invalid_request", "replayed_jti")
        try:
            return self._operations().end_idp_login(
                provider_id,
                subject=notice.subject,
                idp_session=notice.idp_session,
                policy=policy,
                actor=ACTOR,
            )
        except Exception:
            self._store.delete(mark)  # nothing was ended: the IdP's retry must not be a replay
            raise

    def _refused(self, provider_id: str, throttle_key: str, error: str, reason: str) -> LogoutRefused:
        """Count a refusal against the client, audit it (up to MAX_AUDITED_REFUSALS per window
        and client), and return the 400 to raise."""
        count = self._store.incr(throttle_key, REFUSAL_WINDOW_SECONDS)
        if count <= MAX_AUDITED_REFUSALS:
            self._audit.record("idp_logout", "refused", provider=provider_id, actor=ACTOR, reason=reason)
        else:
            log.warning("backchannel logout for %s refused (%s); not audited: too many", provider_id, reason)
        return LogoutRefused(400, error, reason)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
