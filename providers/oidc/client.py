"""This gateway as a client of the IdP: the calls made with its client registration (the code
exchange, introspection's POST) and the userinfo call made with a user's access token.

An IdP that refuses the client itself (wrong secret or auth method) is a misconfiguration no
user can get past: ProviderUnavailable, not a refused login. Tokens, codes and secrets are
never logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from providers.base import ProviderUnavailable
from providers.oidc.claims import OidcRejected
from providers.oidc.metadata import Answer, Http, Metadata
from providers.oidc.settings import OidcSettings

log = logging.getLogger(__name__)

_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# Claims about the token itself: userinfo never overrides the ID token's.
_TOKEN_CLAIMS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "nonce",
        "azp",
        "auth_time",
        "at_hash",
        "c_hash",
        "jti",
        "sid",
        "acr",
        "amr",
    }
)


def shown_error_code(error: Any) -> str | None:
    """An OAuth ``error`` code fit for a log line (a short token), None for anything else."""
    return error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else None


class IdpClient:
    """The gateway's calls to one IdP, on its endpoints from discovery."""

    def __init__(self, provider_id: str, settings: OidcSettings, http: Http, metadata: Metadata):
        self.id = provider_id
        self.settings = settings
        self._http = http
        self._metadata = metadata

    def post(self, url: str, data: dict[str, str], what: str) -> Answer:
        """POST a form to the IdP with this client's authentication."""
        settings = self.settings
        auth = None
        if settings.client_auth == "client_secret_basic":
            # RFC 6749 2.3.1: form-encoded before Basic, which matters for secrets with ":" or "%".
            auth = (quote(settings.client_id, safe=""), quote(settings.client_secret or "", safe=""))
        elif settings.client_auth == "client_secret_post":
            data = {**data, "client_id": settings.client_id, "client_secret": settings.client_secret or ""}
        else:
            data = {**data, "client_id": settings.client_id}
        return self._http.request(
            "POST", url, what, data=data, auth=auth, headers={"Accept": "application/json"}
        )

    def refused_client(self, answer: Answer, what: str) -> None:
        """ProviderUnavailable when the IdP refused this client itself: a misconfiguration
        (wrong secret or auth method) that no user can get past. Otherwise logs the refusal."""
        error = (answer.json() or {}).get("error")
        if answer.status == 401 or error == "invalid_client":
            log.error(
                "oidc %s: the IdP refused the client credentials at %s (HTTP %s)",
                self.id,
                what,
                answer.status,
            )
            raise ProviderUnavailable(self.id, f"{what}: client authentication refused")
        if not 400 <= answer.status < 500:
            raise ProviderUnavailable(self.id, f"{what}: HTTP {answer.status}")
        code = shown_error_code(error) or "(none)"
        log.info("oidc %s: %s refused with HTTP %s, error %s", self.id, what, answer.status, code)

    def exchange(self, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        """The token answer for an authorization code and its PKCE verifier; OidcRejected
        ``code_rejected`` when the IdP refuses the code (reused, expired, wrong verifier)."""
        endpoint = self._metadata.document()["token_endpoint"]  # checked at discovery
        answer = self.post(
            endpoint,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
            "token",
        )
        if answer.status != 200:
            self.refused_client(answer, "token")
            raise OidcRejected("code_rejected")  # invalid_grant: reused, expired, wrong verifier
        tokens = answer.json()
        if tokens is None:
            raise ProviderUnavailable(self.id, "token: not a JSON object")
        return tokens

    def userinfo(self, access_token: Any, sub: Any, *, required: bool) -> dict[str, Any]:
        """The userinfo claims for ``access_token``; their sub must be ``sub``. Without a
        userinfo endpoint: nothing, or ProviderUnavailable when ``required``."""
        endpoint = self._metadata.endpoint("userinfo_endpoint")
        if endpoint is None:
            if required:
                raise ProviderUnavailable(self.id, "discovery has no userinfo_endpoint")
            return {}
        if not isinstance(access_token, str) or not access_token:
            raise ProviderUnavailable(self.id, "token: no access_token for userinfo")
        answer = self._http.request(
            "GET",
            endpoint,
            "userinfo",
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if answer.status in (401, 403):
            raise OidcRejected("userinfo_refused")
        if answer.status != 200:
            raise ProviderUnavailable(self.id, f"userinfo: HTTP {answer.status}")
        info = answer.json()
        if info is None:
            raise ProviderUnavailable(
                self.id, "userinfo: not a JSON object (signed userinfo is not supported)"
            )
        if not isinstance(sub, str) or info.get("sub") != sub:
            raise OidcRejected("userinfo_sub_mismatch")
        return info


def merged(claims: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``claims`` with ``extra``'s user claims on top; the token's own claims stay."""
    return {**claims, **{key: value for key, value in extra.items() if key not in _TOKEN_CLAIMS}}
