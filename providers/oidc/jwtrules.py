"""What a JWT of this IdP is and whether it may pass: pure functions over its header and its
verified claims, and the one signature check (pyjwt).

An ID token and an access token are told apart by the header ``typ`` (RFC 9068 ``at+jwt``),
else the payload ``typ`` (Keycloak), else whether ``aud`` names an access token audience
(Entra ID, Okta). Every refusal raises OidcRejected with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt

from providers.oidc.claims import OidcRejected
from providers.oidc.settings import OidcSettings

LEEWAY_SECONDS = 60
# Header typ values (RFC 7515: compared case-insensitively, "application/" may be omitted).
_ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
_PLAIN_TYPES = (None, "jwt", "application/jwt")
# Keycloak's payload typ: "ID" and "Bearer" name ID and access tokens; every other value
# (Refresh, Offline, Logout, ...) is a token that must never pass as either.
_PAYLOAD_KINDS = {"id": "id", "bearer": "access"}
_JWT_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "bad_audience"),
    (jwt.InvalidIssuerError, "bad_issuer"),
    (jwt.InvalidAlgorithmError, "alg_not_allowed"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidIssuedAtError, "bad_iat"),
    (jwt.DecodeError, "malformed_token"),
)
_MISSING_CLAIM_REASONS = {"aud": "bad_audience", "iss": "bad_issuer"}


def verified_claims(
    token: str,
    key: Any,
    audiences: tuple[str, ...],
    issuer: str,
    require: tuple[str, ...] = ("exp", "iss", "aud"),
) -> dict[str, Any]:
    """The claims of ``token`` signed with ``key`` (a pyjwt key of the IdP's JWKS) for one of
    ``audiences``, of ``issuer``, with the ``require``d claims (an exp by default; an exp that
    is there is always checked); OidcRejected with the reason if not."""
    try:
        return jwt.decode(
            token,
            key=key,
            algorithms=[key.algorithm_name],
            audience=list(audiences),
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": list(require)},
        )
    except jwt.MissingRequiredClaimError as error:
        raise OidcRejected(_MISSING_CLAIM_REASONS.get(error.claim, "missing_claim")) from None
    except jwt.InvalidTokenError as error:
        reason = next((reason for kind, reason in _JWT_ERRORS if isinstance(error, kind)), "bad_token")
        raise OidcRejected(reason) from None


def header_says_access_token(header: Mapping[str, Any]) -> bool:
    """True for header typ ``at+jwt`` (RFC 9068), False for a plain JWT (typ absent or
    ``JWT``); OidcRejected ``token_not_accepted`` for any other typ (a logout token, a security
    event, ...)."""
    typ = header.get("typ")
    kind = typ.lower() if isinstance(typ, str) else typ
    if kind in _ACCESS_TOKEN_TYPES:
        return True
    if kind in _PLAIN_TYPES:
        return False
    raise OidcRejected("token_not_accepted")


def jwt_kind(claims: Mapping[str, Any], access_audiences: frozenset[str], *, typed_access: bool) -> str:
    """``"access"`` or ``"id"``: what a verified JWT is, by its header (``typed_access``:
    typ at+jwt), else its payload typ, else whether its aud names one of ``access_audiences``
    (which wins over client_id). OidcRejected ``token_not_accepted`` for other payload typs."""
    kind = _payload_kind(claims, "access" if typed_access else None)
    if kind is not None:
        return kind
    return "access" if audiences(claims) & access_audiences else "id"


def check_access_token(claims: Mapping[str, Any], access_audiences: frozenset[str]) -> None:
    """OidcRejected unless access tokens are accepted (``access_audiences`` not empty) and
    ``claims`` (already verified) are for one of them. sub is checked with the identity."""
    if not access_audiences:
        raise OidcRejected("token_not_accepted")
    if not audiences(claims) & access_audiences:
        raise OidcRejected("bad_audience")


def check_id_token(claims: Mapping[str, Any], settings: OidcSettings, *, token_path: bool = False) -> None:
    """OidcRejected unless ``claims`` (already verified) are an ID token for this client:
    client_id in aud, iat and sub present, and azp this client when it is there or aud
    names several audiences. On the token path ID tokens must also be accepted."""
    if token_path and not settings.tokens.accept_id_tokens:
        raise OidcRejected("token_not_accepted")
    if settings.client_id not in audiences(claims):
        raise OidcRejected("bad_audience")
    if any(claims.get(name) is None for name in ("iat", "sub")):
        raise OidcRejected("missing_claim")
    azp, aud = claims.get("azp"), claims.get("aud")
    if (azp is not None or (isinstance(aud, list) and len(aud) > 1)) and azp != settings.client_id:
        raise OidcRejected("bad_azp")


def audiences(claims: Mapping[str, Any]) -> set[str]:
    """The string audiences of ``aud`` (one string or a list)."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return {aud}
    return {item for item in aud if isinstance(item, str)} if isinstance(aud, list) else set()


def _payload_kind(claims: Mapping[str, Any], default: str | None) -> str | None:
    """The kind (``"id"`` or ``"access"``) a verified payload's ``typ`` names, ``default`` when
    it has none; OidcRejected ``token_not_accepted`` for any other typ (Keycloak's Refresh,
    Offline, Logout, ...) and for an ID token where ``default`` says access token."""
    typ = claims.get("typ")
    if typ is None:
        return default
    kind = _PAYLOAD_KINDS.get(typ.lower()) if isinstance(typ, str) else None
    if kind is None or (default is not None and kind != default):
        raise OidcRejected("token_not_accepted")
    return kind
