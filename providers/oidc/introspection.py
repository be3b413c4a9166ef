"""Opaque bearer tokens, asked about at the IdP's introspection endpoint (RFC 7662).

Anyone can present an opaque token, so introspections run a few at a time per process: a
slow IdP must not take every worker thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from providers.base import ProviderUnavailable
from providers.oidc.claims import OidcRejected, has_claim
from providers.oidc.client import IdpClient, merged
from providers.oidc.jwtrules import LEEWAY_SECONDS
from providers.oidc.metadata import Metadata
from providers.oidc.settings import OidcSettings

MAX_CONCURRENT_INTROSPECTIONS = 4  # per process


class Introspection:
    """The claims an opaque token of one IdP stands for, when the IdP vouches for it."""

    def __init__(self, provider_id: str, settings: OidcSettings, metadata: Metadata, client: IdpClient):
        self.id = provider_id
        self.settings = settings
        self._metadata = metadata
        self._client = client
        self._running = threading.BoundedSemaphore(MAX_CONCURRENT_INTROSPECTIONS)

    def claims(self, token: str) -> dict[str, Any]:
        """The introspected claims of ``token``, with userinfo's when they lack the username.

        Only with ``tokens.introspection``; the token must be active, a bearer access token
        (``token_type``/``typ`` Bearer: not a refresh token), of this issuer if it says,
        unexpired, and issued to this client (``client_id``) or for it or a configured
        audience (``aud``). OidcRejected or ProviderUnavailable otherwise.
        """
        if not self.settings.tokens.introspection:
            raise OidcRejected("token_not_accepted")
        endpoint = self._metadata.endpoint("introspection_endpoint")
        if endpoint is None:
            raise ProviderUnavailable(self.id, "discovery has no introspection_endpoint")
        if not self._running.acquire(timeout=self.settings.timeout_seconds):
            raise ProviderUnavailable(self.id, "introspection: too many at once")
        try:
            answer = self._client.post(
                endpoint, {"token": token, "token_type_hint": "access_token"}, "introspection"
            )
        finally:
            self._running.release()
        if answer.status != 200:
            self._client.refused_client(answer, "introspection")
            raise OidcRejected("token_rejected")
        info = answer.json()
        if info is None:
            raise ProviderUnavailable(self.id, "introspection: not a JSON object")
        if info.get("active") is not True:
            raise OidcRejected("inactive_token")
        if "iss" in info and info["iss"] != self.settings.issuer:
            raise OidcRejected("bad_issuer")
        if not _says_bearer(info):
            raise OidcRejected("bad_token_type")
        exp = info.get("exp")
        if isinstance(exp, (int, float)) and exp + LEEWAY_SECONDS < time.time():
            raise OidcRejected("expired")
        if not self._bound_to_us(info):
            raise OidcRejected("bad_audience")
        if not has_claim(info, self.settings.username_claim):
            info = merged(info, self._client.userinfo(token, info.get("sub"), required=True))
        return info

    def _bound_to_us(self, info: Mapping[str, Any]) -> bool:
        # Confidential clients may introspect any client's token: this one must be for us.
        audiences = info.get("aud")
        audiences = (
            [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
        )
        ours = {self.settings.client_id, *self.settings.tokens.access_token_audiences}
        return info.get("client_id") == self.settings.client_id or any(
            isinstance(audience, str) and audience in ours for audience in audiences
        )


def _says_bearer(info: Mapping[str, Any]) -> bool:
    """Whether an introspection answer calls the token a bearer access token. A refresh token
    (oidc-provider names no type for it, Keycloak says ``typ: Refresh``) or a DPoP-bound
    token must not pass as one."""
    kinds = [info.get(name) for name in ("token_type", "typ") if info.get(name) is not None]
    return bool(kinds) and all(isinstance(kind, str) and kind.lower() == "bearer" for kind in kinds)
