"""A secret shown once, across a POST-redirect-GET.

The POST that creates a secret (an app password) answers a 303 to a page; the secret rides to
that page's GET in a short-lived cookie, sealed (AES-GCM under a key of its own, see
:mod:`gateway.tokens.sealing`), HttpOnly, host-only and bound to the signed-in session. The GET
shows it and expires the cookie, so a reload shows nothing and repeats nothing. The secret is
never in a URL and never logged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from flask import request

from gateway.http.appservices import services
from gateway.http.browser import secure
from gateway.tokens.sealing import BrokenSeal, Sealer

COOKIE = "gw_shown_once"
# Long enough for the redirect to be followed on a slow link; short enough that a secret
# never waits long in a browser's cookie jar.
LIFETIME_SECONDS = 120
_HKDF_INFO = b"gateway shown-once secret v1"
_ASSOCIATED_DATA = b"gateway shown-once secret cookie v1"


@dataclass(frozen=True)
class ShownOnce:
    """A secret to show once: the name it was given and the secret itself."""

    name: str
    secret: str

    def __repr__(self) -> str:
        return f"ShownOnce(name={self.name!r}, secret=<hidden>)"


def cookie_name() -> str:
    """``gw_shown_once``, ``__Host-`` prefixed over HTTPS (so no sibling host can plant one)."""
    return "__Host-" + COOKIE if secure() else COOKIE


def _sealer() -> Sealer:
    return Sealer(services().settings.key_encryption_key, _HKDF_INFO, _ASSOCIATED_DATA)


def hand_over(response, session_id: str, shown: ShownOnce) -> None:
    """Put ``shown`` in ``response``'s cookie for the next page of the session ``session_id``."""
    payload = {
        "sid": session_id,
        "name": shown.name,
        "secret": shown.secret,
        "exp": int(time.time()) + LIFETIME_SECONDS,
    }
    response.set_cookie(
        cookie_name(),
        _sealer().seal(json.dumps(payload).encode()),
        max_age=LIFETIME_SECONDS,
        path="/",
        secure=secure(),
        httponly=True,
        samesite="Lax",
    )


def take(session_id: str) -> ShownOnce | None:
    """The secret this browser carries for the session ``session_id``, if any: None when there
    is no cookie, or it does not open, has expired or belongs to another session. The caller
    must :func:`expire` the cookie in its answer whenever :func:`present` says one was sent."""
    value = request.cookies.get(cookie_name(), "")
    if not value or len(value) > 4096:
        return None
    try:
        payload = json.loads(_sealer().open(value))
    except (BrokenSeal, ValueError):
        return None
    if (
        not isinstance(payload, dict)
        or payload.get("sid") != session_id
        or not isinstance(payload.get("exp"), int)
        or payload["exp"] < time.time()
        or not isinstance(payload.get("name"), str)
        or not isinstance(payload.get("secret"), str)
    ):
        return None
    return ShownOnce(payload["name"], payload["secret"])


def present() -> bool:
    """Whether this browser sent a shown-once cookie (to be expired)."""
    return cookie_name() in request.cookies


def expire(response) -> None:
    """Expire the shown-once cookie, with the attributes it was set with."""
    response.delete_cookie(cookie_name(), path="/", secure=secure(), httponly=True, samesite="Lax")
