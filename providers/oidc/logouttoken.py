"""What makes a JWT an OpenID Connect Back-Channel Logout 1.0 logout token of this IdP for this
client: pure functions over its header and its already verified claims (signature, pinned
algorithm, ``iss``, ``aud`` = client_id, and ``exp`` when the token has one, are
:func:`providers.oidc.jwtrules.verified_claims`'s).

The spec's rules (section 2.4 and 2.6), each refusal an OidcRejected with its reason:

* header ``typ``: absent, ``JWT`` or ``logout+jwt`` (the spec's recommendation), nothing else,
  so an ID token or access token of another kind cannot be replayed here (``bad_typ``);
* ``events`` is an object holding the back-channel logout event, itself an object
  (``missing_event``);
* ``sub`` or ``sid`` or both, non-empty strings (``missing_subject``);
* no ``nonce``, which would make it an ID token (``nonce_present``);
* ``jti`` a non-empty string, single-use (the gateway keeps the mark) (``missing_jti``);
* ``iat`` a number, not in the future and not older than ``max_token_age_seconds``
  (``stale_token``), on top of ``exp``. The spec made ``exp`` REQUIRED only in 2023, and
  Keycloak before 22.0.8/23.0.4 (and other IdPs) still send none, so a token without it is
  accepted while its ``iat`` is fresh: the window bounds it either way, and its ``jti`` is
  remembered until the window has passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.base import LogoutNotice
from providers.oidc.claims import OidcRejected, subject_of
from providers.oidc.jwtrules import LEEWAY_SECONDS

BACKCHANNEL_LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
# Header typ values (RFC 7515: compared case-insensitively, "application/" may be omitted).
_LOGOUT_TYPES = (None, "jwt", "application/jwt", "logout+jwt", "application/logout+jwt")
MAX_ID_CHARS = 255  # a sub, sid or jti longer than this is no IdP's


def check_header(header: Mapping[str, Any]) -> None:
    """OidcRejected ``bad_typ`` unless the header's typ is absent, ``JWT`` or ``logout+jwt``."""
    typ = header.get("typ")
    kind = typ.lower() if isinstance(typ, str) else typ
    if kind not in _LOGOUT_TYPES:
        raise OidcRejected("bad_typ", 400)


def logout_notice(claims: Mapping[str, Any], issuer: str, now: float, max_age_seconds: float) -> LogoutNotice:
    """The notice a logout token's verified ``claims`` carry, at Unix time ``now``, its subject
    as the Identity's (``issuer|sub``); OidcRejected (status 400) with the reason for every
    rule of the module docstring it breaks."""
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_LOGOUT_EVENT), dict):
        raise OidcRejected("missing_event", 400)
    if "nonce" in claims:
        raise OidcRejected("nonce_present", 400)
    subject, session = _identifier(claims, "sub"), _identifier(claims, "sid")
    if subject is None and session is None:
        raise OidcRejected("missing_subject", 400)
    token_id = _identifier(claims, "jti")
    if token_id is None:
        raise OidcRejected("missing_jti", 400)
    issued_at = claims.get("iat")
    if (
        not isinstance(issued_at, int | float)
        or isinstance(issued_at, bool)
        or issued_at > now + LEEWAY_SECONDS
        or issued_at < now - max_age_seconds - LEEWAY_SECONDS
    ):
        raise OidcRejected("stale_token", 400)
    expires_at = claims.get("exp")
    expiry = float(expires_at) if isinstance(expires_at, int | float) else now + max_age_seconds
    return LogoutNotice(
        subject_of(issuer, subject) if subject is not None else None,
        session,
        token_id,
        max(expiry, float(issued_at) + max_age_seconds),
    )


def _identifier(claims: Mapping[str, Any], name: str) -> str | None:
    """Claim ``name`` when it is a usable identifier; OidcRejected when present but not one."""
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS or not value.isprintable():
        raise OidcRejected(f"bad_{name}", 400)
    return value
