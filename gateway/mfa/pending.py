"""The sealed pending login between a verified password and the second factor.

After ``/login`` has verified a password for an account that needs a second factor, nothing
is stored: the browser carries the identity, where to go next and the expiry, sealed with
AES-256-GCM under a key of its own derived from GATEWAY_KEY_ENCRYPTION_KEY
(:class:`gateway.tokens.sealing.Sealer`, as :mod:`gateway.sso.transactions` seals login
transactions). It cannot be read, forged or prolonged; it lasts LIFETIME_SECONDS. A WebAuthn
challenge issued for it travels in it too, and is spent in the state store when used.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.tokens.sealing import BrokenSeal, Sealer
from providers.base import Identity

HKDF_INFO = b"dronedb-auth-gateway pending mfa login v1"
_ASSOCIATED_DATA = b"pending mfa login v1"
LIFETIME_SECONDS = 300
MAX_SEALED_CHARS = 3800  # a cookie's value, with room for its name and attributes


class UnreadablePending(Exception):
    """No usable pending login: missing, tampered with, sealed for something else, or expired."""


@dataclass(frozen=True)
class PendingLogin:
    """A password already verified for ``identity``; ``enrol``: no factor yet, and the policy
    requires one. ``challenge``: the WebAuthn challenge issued for this login (base64url)."""

    identity: Identity
    next_url: str
    expires_at: float
    enrol: bool = False
    challenge: str = ""


class PendingSeal:
    def __init__(self, secret: str, clock: Callable[[], float] = time.time):
        self._sealer = Sealer(secret, HKDF_INFO, _ASSOCIATED_DATA)
        self._clock = clock

    def __repr__(self) -> str:
        return "PendingSeal(<secret>)"

    def seal(self, pending: PendingLogin) -> str:
        record: dict[str, Any] = {
            "v": 1,
            "identity": pending.identity.to_dict(),
            "next": pending.next_url,
            "exp": pending.expires_at,
            "enrol": pending.enrol,
            "challenge": pending.challenge,
        }
        return self._sealer.seal(json.dumps(record, separators=(",", ":")).encode())

    def start(self, identity: Identity, next_url: str, *, enrol: bool = False) -> PendingLogin:
        return PendingLogin(identity, next_url, self._clock() + LIFETIME_SECONDS, enrol)

    def open(self, sealed: str | None) -> PendingLogin:
        """The pending login ``sealed`` holds; UnreadablePending otherwise."""
        if not isinstance(sealed, str) or not sealed or len(sealed) > MAX_SEALED_CHARS:
            raise UnreadablePending("missing")
        try:
            record = json.loads(self._sealer.open(sealed))
            pending = PendingLogin(
                identity=Identity.from_dict(record["identity"]),
                next_url=str(record["next"]),
                expires_at=float(record["exp"]),
                enrol=bool(record["enrol"]),
                challenge=str(record.get("challenge", "")),
            )
        except (BrokenSeal, ValueError, KeyError, TypeError):
            raise UnreadablePending("bad") from None
        if record.get("v") != 1 or self._clock() >= pending.expires_at:
            raise UnreadablePending("expired")
        return pending


ENROLMENT_SECONDS = 900
_ENROLMENT_INFO = b"dronedb-auth-gateway totp enrolment v1"
_ENROLMENT_DATA = b"totp enrolment v1"


class EnrolmentSeal:
    """A TOTP secret being enrolled, sealed into the enrolment form (nothing is stored until a
    code confirms it), bound to the person and valid for ENROLMENT_SECONDS."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time):
        self._sealer = Sealer(secret, _ENROLMENT_INFO, _ENROLMENT_DATA)
        self._clock = clock

    def __repr__(self) -> str:
        return "EnrolmentSeal(<secret>)"

    def seal(self, username: str, totp_secret: str) -> str:
        record = {"u": username, "s": totp_secret, "exp": self._clock() + ENROLMENT_SECONDS}
        return self._sealer.seal(json.dumps(record).encode())

    def open(self, username: str, sealed: str) -> str | None:
        """The TOTP secret sealed for ``username``, or None (not ours, another person's, expired)."""
        if not isinstance(sealed, str) or not sealed or len(sealed) > 512:
            return None
        try:
            record = json.loads(self._sealer.open(sealed))
        except (BrokenSeal, ValueError):
            return None
        if (
            not isinstance(record, dict)
            or record.get("u") != username
            or not isinstance(record.get("s"), str)
            or not isinstance(record.get("exp"), (int, float))
            or record["exp"] <= self._clock()
        ):
            return None
        return str(record["s"])
