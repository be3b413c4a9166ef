"""Minting and verifying the gateway's session-bound JWTs (the ``xAuthToken`` the Registry relays)."""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from jwt import exceptions as jwt_errors

from gateway.tokens.keys import KeyRing, PublicKey
from providers.sql import utcnow
from providers.strictjson import parse_json

TOKEN_TYPE = "xauth+jwt"
MAX_TOKEN_LENGTH = 8 * 1024
REQUIRED_CLAIMS = ("exp", "iat", "nbf", "iss", "aud", "sub", "sid", "jti")


class InvalidToken(Exception):
    """The token is not one this gateway issued and still honours; ``reason`` is for logs."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedToken:
    username: str
    session_id: str
    jti: str
    expires_at: datetime


# pyjwt's exceptions, most specific first, mapped to our reasons; anything else is "malformed".
# (InvalidSubjectError and InvalidJTIError only exist in pyjwt >= 2.10; _check_claims covers
# those claims on older versions.)
_PYJWT_REASONS: tuple[tuple[type[Exception], str], ...] = tuple(
    (kind, reason)
    for kind, reason in (
        (jwt_errors.InvalidSignatureError, "bad_signature"),
        (jwt_errors.InvalidAlgorithmError, "alg_mismatch"),
        (jwt_errors.MissingRequiredClaimError, "missing_claim"),
        (jwt_errors.InvalidIssuerError, "bad_issuer"),
        (jwt_errors.InvalidAudienceError, "bad_audience"),
        (getattr(jwt_errors, "InvalidSubjectError", None), "missing_claim"),
        (getattr(jwt_errors, "InvalidJTIError", None), "missing_claim"),
    )
    if kind is not None
)


class TokenService:
    """Issues tokens signed by the key ring's current key and verifies them against the ring."""

    def __init__(
        self,
        keyring: KeyRing,
        issuer: str,
        audience: str,
        lifetime: timedelta,
        leeway: timedelta = timedelta(seconds=30),
        *,
        clock: Callable[[], datetime] = utcnow,
    ):
        if lifetime <= timedelta(0):
            raise ValueError("token lifetime must be positive")
        self.keyring = keyring
        self.issuer = issuer
        self.audience = audience
        self.lifetime = lifetime
        self.leeway = leeway
        self._clock = clock

    def mint(self, username: str, session_id: str, expires_at: datetime | None = None) -> str:
        """A signed token for ``username`` bound to ``session_id``.

        It expires after the configured lifetime, or at ``expires_at`` (the session's end) if
        that is sooner. Raises ValueError for empty names or an ``expires_at`` already past.
        """
        if not isinstance(username, str) or not username:
            raise ValueError("username must be a non-empty string")
        if not isinstance(session_id, str) or not session_id:
            raise ValueError("session_id must be a non-empty string")
        now = self._clock()
        end = now + self.lifetime
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise ValueError("expires_at must be timezone-aware")
            if expires_at <= now:
                raise ValueError("expires_at is already past")
            end = min(end, expires_at)
        kid, algorithm, private_key = self.keyring.signing_key()
        iat = int(now.timestamp())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": username,
            "sid": session_id,
            "jti": secrets.token_urlsafe(16),
            "iat": iat,
            "nbf": iat,
            # Rounded down so the token never outlives the session.
            "exp": math.floor(end.timestamp()),
        }
        return jwt.encode(claims, private_key, algorithm=algorithm, headers={"kid": kid, "typ": TOKEN_TYPE})

    def verify(self, token: str) -> VerifiedToken:
        """The token's claims if it is well formed, ours, unexpired and correctly signed.

        Raises InvalidToken for any fault in the token. Does not check the session (the caller
        does); database errors reading the key ring propagate unchanged.
        """
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise InvalidToken("malformed")
        header = _unverified_header(token)
        if header.get("typ") != TOKEN_TYPE:
            raise InvalidToken("bad_typ")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("unknown_kid")
        found = self.keyring.verification_key(kid)
        if found is None:
            raise InvalidToken("unknown_kid")
        algorithm, public_key = found
        if header.get("alg") != algorithm:
            raise InvalidToken("alg_mismatch")
        claims = self._decode(token, algorithm, public_key)
        return self._check_claims(claims)

    def _decode(self, token: str, algorithm: str, public_key: PublicKey) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                public_key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                # Time claims are checked in _check_claims, against our clock.
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_iss": True,
                    "verify_aud": True,
                    "strict_aud": True,
                    "verify_sub": True,
                    "verify_jti": True,
                },
            )
        except Exception as error:
            for kind, reason in _PYJWT_REASONS:
                if isinstance(error, kind):
                    raise InvalidToken(reason) from None
            raise InvalidToken("malformed") from None

    def _check_claims(self, claims: dict[str, Any]) -> VerifiedToken:
        for name in ("sub", "sid", "jti"):
            if not isinstance(claims.get(name), str) or not claims[name]:
                raise InvalidToken("missing_claim")
        times = {}
        for name in ("exp", "nbf", "iat"):
            value = claims[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidToken("malformed")
            try:
                times[name] = float(value)
            except OverflowError:
                raise InvalidToken("malformed") from None
            if not math.isfinite(times[name]):
                raise InvalidToken("malformed")
        now = self._clock().timestamp()
        leeway = self.leeway.total_seconds()
        if times["exp"] <= now - leeway:
            raise InvalidToken("expired")
        if times["nbf"] > now + leeway or times["iat"] > now + leeway:
            raise InvalidToken("not_yet_valid")
        try:
            expires_at = datetime.fromtimestamp(times["exp"], UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidToken("malformed") from None
        return VerifiedToken(claims["sub"], claims["sid"], claims["jti"], expires_at)


_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


def _unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, decoded only to choose the key; pyjwt then verifies the whole token.

    Decoding just this segment (instead of ``jwt.get_unverified_header``, which decodes all
    three) halves the parsing cost of the token path; and since every token signed by one key
    has the same header segment, the decoded header is remembered per segment.
    """
    segment = token.split(".", 1)[0]
    if token.count(".") != 2:
        raise InvalidToken("malformed")
    return dict(_decode_header(segment))


MAX_HEADER_SEGMENT = 1024  # ours is ~120 characters; a huge one is only ever an attack


@functools.lru_cache(maxsize=64)
def _decode_header(segment: str) -> tuple[tuple[str, Any], ...]:
    """The header segment's members (a tuple, so the cache can hold it); InvalidToken
    ("malformed") for anything but a short JSON object the bounded parser accepts."""
    if len(segment) > MAX_HEADER_SEGMENT or not _SEGMENT.fullmatch(segment):
        raise InvalidToken("malformed")
    try:
        header = parse_json(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):  # HostileJson is a ValueError
        raise InvalidToken("malformed") from None
    if not isinstance(header, dict) or not isinstance(header.get("kid", ""), str):
        raise InvalidToken("malformed")
    return tuple(header.items())
