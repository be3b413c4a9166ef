"""Signing keys: stored in the database (private halves encrypted), cached in process memory.

Every worker and replica reads the same ``signing_keys`` table. A worker reloads it at most every
``cache_seconds``, and also when asked about a kid it has never seen (at most once per
``miss_reload_seconds``), so a token signed with a key another replica just created verifies at
once while tokens with junk kids cannot hammer the database.

After :meth:`KeyRing.rotate`, other workers may keep signing with the old key until their next
reload, so ``retire_after`` should be at least the token lifetime plus ``cache_seconds``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from sqlalchemy import CursorResult, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from gateway.storage.db import UNAVAILABLE_ERRORS, Database
from gateway.storage.models import SigningKey
from gateway.tokens.cipher import KeyCipher
from providers.sql import utcnow

log = logging.getLogger(__name__)

SUPPORTED_ALGORITHMS = frozenset({"ES256", "EdDSA", "RS256"})
RSA_KEY_BITS = 3072

# RFC 7638 §3.2: the required members of each key type, the only ones hashed for a thumbprint.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}


_ACTIVE_KID = select(SigningKey.kid).where(SigningKey.retired_at.is_(None)).limit(1)


class NoSigningKeyError(RuntimeError):
    """There is no active signing key; :meth:`KeyRing.ensure_signing_key` creates one."""


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of a public JWK, base64url without padding."""
    members = _THUMBPRINT_MEMBERS[jwk["kty"]]
    canonical = json.dumps(
        {m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True, ensure_ascii=False
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


class _Lifetime(Protocol):
    """A key row or a cached key: when it stops verifying, and whether it still signs."""

    expires_at: datetime | None
    retired_at: datetime | None


def _generate(algorithm: str) -> PrivateKey:
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    raise ValueError(f"unsupported signing algorithm {algorithm!r}")


def _public_members(algorithm: str, private_key: PrivateKeyTypes) -> dict[str, Any]:
    """The public JWK of ``private_key``, checked to suit ``algorithm``; raises ValueError if not."""
    public = private_key.public_key()
    if (
        algorithm == "ES256"
        and isinstance(public, ec.EllipticCurvePublicKey)
        and isinstance(public.curve, ec.SECP256R1)
    ):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    elif algorithm == "EdDSA" and isinstance(public, ed25519.Ed25519PublicKey):
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    elif algorithm == "RS256" and isinstance(public, rsa.RSAPublicKey) and public.key_size >= 2048:
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    else:
        raise ValueError(f"key does not suit algorithm {algorithm!r}")
    # Allow-list rather than trust the library: a private member must never be published.
    return {m: jwk[m] for m in _THUMBPRINT_MEMBERS[jwk["kty"]]}


@dataclass(frozen=True)
class _Key:
    kid: str
    algorithm: str
    private_key: Any
    public_key: Any
    jwk: Mapping[str, Any]  # published form: public members plus kid, alg, use
    created_at: datetime
    retired_at: datetime | None
    expires_at: datetime | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True)
class _State:
    keys: Mapping[str, _Key]
    signing_kid: str | None
    loaded_at: float  # monotonic


def _key_state(row_or_key: _Lifetime, now: datetime) -> str:
    if row_or_key.expires_at is not None and row_or_key.expires_at <= now:
        return "expired"
    return "active" if row_or_key.retired_at is None else "retiring"


class KeyRing:
    """The gateway's signing keys, shared through the database, cached per process; thread-safe."""

    def __init__(
        self,
        database: Database,
        cipher: KeyCipher,
        algorithm: str = "ES256",
        cache_seconds: float = 30.0,
        *,
        miss_reload_seconds: float = 2.0,
        clock: Callable[[], datetime] = utcnow,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        if algorithm not in SUPPORTED_ALGORITHMS:
            raise ValueError(
                f"unsupported signing algorithm {algorithm!r}; choose one of {sorted(SUPPORTED_ALGORITHMS)}"
            )
        self.database = database
        self.algorithm = algorithm
        self.cache_seconds = cache_seconds
        self.miss_reload_seconds = miss_reload_seconds
        self._cipher = cipher
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._state: _State | None = None
        self._last_miss_reload = float("-inf")

    # -- administration ----------------------------------------------------------------------

    def ensure_signing_key(self) -> str:
        """Create a signing key if none is active; return the kid now used for signing.

        Two processes racing here may both create one; that is harmless (the newest signs).
        """
        if not self._has_active_key():
            row = self._new_row()  # generated outside the transaction: RSA keygen is slow
            try:
                with self.database.session() as session:
                    if session.scalar(_ACTIVE_KID) is None:
                        session.add(row)
            except (IntegrityError, *UNAVAILABLE_ERRORS):
                # Lost a race (SQLite reports a busy snapshot as OperationalError): fine if the
                # winner's key is there now; otherwise the database really is failing.
                if not self._has_active_key():
                    raise
        return self._signing_entry(self._reload()).kid

    def rotate(self, retire_after: timedelta) -> str:
        """Create a key that signs from now on; earlier active keys verify for ``retire_after``.

        Returns the new kid.
        """
        if retire_after < timedelta(0):
            raise ValueError("retire_after must not be negative")
        row = self._new_row()  # generated outside the transaction: RSA keygen is slow
        now = self._clock()
        with self.database.session() as session:
            session.execute(
                update(SigningKey)
                .where(SigningKey.retired_at.is_(None))
                .values(retired_at=now, expires_at=now + retire_after)
            )
            session.add(row)
        self._reload()
        log.info("rotated signing key: %s now signs", row.kid)
        return row.kid

    def purge_expired(self) -> int:
        """Delete keys past their expiry from the database; return how many."""
        with self.database.session() as session:
            result = session.execute(
                delete(SigningKey).where(
                    SigningKey.expires_at.is_not(None), SigningKey.expires_at <= self._clock()
                )
            )
            return cast(CursorResult[Any], result).rowcount or 0

    def list_keys(self) -> list[dict[str, Any]]:
        """Every stored key, newest first, read from the database (no decryption)."""
        now = self._clock()
        with self.database.session() as session:
            rows = session.scalars(
                select(SigningKey).order_by(SigningKey.created_at.desc(), SigningKey.kid)
            ).all()
            return [
                {
                    "kid": r.kid,
                    "alg": r.algorithm,
                    "created_at": r.created_at,
                    "retired_at": r.retired_at,
                    "expires_at": r.expires_at,
                    "state": _key_state(r, now),
                }
                for r in rows
            ]

    # -- use ---------------------------------------------------------------------------------

    def signing_key(self) -> tuple[str, str, Any]:
        """``(kid, algorithm, private key)`` of the newest active key; NoSigningKeyError if none."""
        key = self._signing_entry(self._current())
        return key.kid, key.algorithm, key.private_key

    def verification_key(self, kid: str) -> tuple[str, Any] | None:
        """``(algorithm, public key)`` for ``kid``, or None if unknown or expired."""
        if not isinstance(kid, str):
            return None
        key = self._current().keys.get(kid)
        if key is None:
            key = self._reload_for_miss().keys.get(kid)
        if key is None or key.expired(self._clock()):
            return None
        return key.algorithm, key.public_key

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWK Set of all non-expired keys (public members, kid, alg, use), newest first."""
        now = self._clock()
        keys = sorted(
            (k for k in self._current().keys.values() if not k.expired(now)),
            key=lambda k: (k.created_at, k.kid),
            reverse=True,
        )
        return {"keys": [dict(k.jwk) for k in keys]}

    # -- internals ---------------------------------------------------------------------------

    def _has_active_key(self) -> bool:
        with self.database.session() as session:
            return session.scalar(_ACTIVE_KID) is not None

    def _new_row(self) -> SigningKey:
        private_key = _generate(self.algorithm)
        public = _public_members(self.algorithm, private_key)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return SigningKey(
            kid=jwk_thumbprint(public),
            algorithm=self.algorithm,
            private_key=self._cipher.encrypt(pem),
            public_jwk=public,
            created_at=self._clock(),
        )

    def _signing_entry(self, state: _State) -> _Key:
        if state.signing_kid is None:
            raise NoSigningKeyError("no active signing key; create one with ensure_signing_key()")
        return state.keys[state.signing_kid]

    def _current(self) -> _State:
        """The cached state, reloaded if older than cache_seconds."""
        state = self._state
        if state is not None and self._monotonic() - state.loaded_at < self.cache_seconds:
            return state
        if state is None:
            return self._reload()
        # Someone else is already reloading: serve the slightly stale state meanwhile.
        if not self._lock.acquire(blocking=False):
            return state
        try:
            latest = self._state
            if latest is not state:
                assert latest is not None  # set by the first load, never cleared
                return latest
            try:
                return self._load_locked()
            except UNAVAILABLE_ERRORS:
                log.warning("cannot reload signing keys; using cached keys", exc_info=True)
                # Retry soon, not on every request, while the database is away.
                retry_at = self._monotonic() - self.cache_seconds + self.miss_reload_seconds
                self._state = replace(state, loaded_at=retry_at)
                return self._state
        finally:
            self._lock.release()

    def _reload(self) -> _State:
        with self._lock:
            return self._load_locked()

    def _reload_for_miss(self) -> _State:
        with self._lock:
            if self._monotonic() - self._last_miss_reload < self.miss_reload_seconds:
                assert self._state is not None  # a miss is found in a loaded state
                return self._state
            self._last_miss_reload = self._monotonic()
            return self._load_locked()

    def _load_locked(self) -> _State:
        now = self._clock()
        previous = self._state.keys if self._state is not None else {}
        with self.database.session() as session:
            rows = session.scalars(
                select(SigningKey).where(or_(SigningKey.expires_at.is_(None), SigningKey.expires_at > now))
            ).all()
        keys: dict[str, _Key] = {}
        for row in rows:
            known = previous.get(row.kid)
            if known is not None and known.algorithm == row.algorithm:
                keys[row.kid] = replace(known, retired_at=row.retired_at, expires_at=row.expires_at)
                continue
            key = self._decrypt(row)
            if key is not None:
                keys[row.kid] = key
        active = [k for k in keys.values() if k.retired_at is None]
        signing = max(active, key=lambda k: (k.created_at, k.kid), default=None)
        self._state = _State(keys, signing.kid if signing else None, self._monotonic())
        return self._state

    def _decrypt(self, row: SigningKey) -> _Key | None:
        """Decrypt a stored key and derive its public half; KeyDecryptionError on a wrong secret.

        The public key is derived from the (authenticated) private key, not read from
        ``public_jwk``, so rows written without the secret cannot introduce a verifying key.
        """
        pem = self._cipher.decrypt(row.private_key)
        try:
            private_key = serialization.load_pem_private_key(pem, password=None)
            public = _public_members(row.algorithm, private_key)
        except (ValueError, TypeError):
            log.error("signing key %s is not a valid %s key; ignoring it", row.kid, row.algorithm)
            return None
        if jwk_thumbprint(public) != row.kid:
            log.error("signing key %s does not match its kid; ignoring it", row.kid)
            return None
        jwk = {**public, "kid": row.kid, "alg": row.algorithm, "use": "sig"}
        return _Key(
            row.kid,
            row.algorithm,
            private_key,
            private_key.public_key(),
            jwk,
            row.created_at,
            row.retired_at,
            row.expires_at,
        )
