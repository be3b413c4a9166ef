"""Password hashes made by ASP.NET Core Identity's ``PasswordHasher<TUser>``, as imported from a
DroneDB Registry (``gateway import-registry``). Pure functions: no I/O, no clock.

The stored string is the base64 of one of two layouts (the format is documented in aspnetcore's
``src/Identity/Extensions.Core/src/PasswordHasher.cs``):

* **V2**: ``0x00 | salt (16 bytes) | subkey (32 bytes)``; PBKDF2 with HMAC-SHA1, 1,000
  iterations. Exactly 49 bytes.
* **V3**: ``0x01 | prf | iterations | salt length | salt | subkey``, the three numbers
  unsigned 32-bit big-endian; prf 0 = HMAC-SHA1, 1 = HMAC-SHA256, 2 = HMAC-SHA512. The subkey
  is the rest of the payload. ASP.NET requires salt and subkey of at least 128 bits each.

The password is PBKDF2's input as UTF-8. The gateway only *verifies* these hashes; a successful
login replaces the hash with argon2id (:meth:`providers.local.hashing.CappedHasher.needs_rehash`
is True for anything that is not argon2).

Bounds beyond ASP.NET's own, because a login runs PBKDF2 with whatever numbers the stored hash
holds: the work (iterations times the PRF output blocks the subkey needs) is at most
:data:`MAX_WORK`, enough for ASP.NET's defaults (V2: 1,000 × 2; V3: 10,000 HMAC-SHA256 or
100,000 HMAC-SHA512 × 1) and for OWASP's PBKDF2 figures (1.3 million HMAC-SHA1 × 2 blocks),
about 3 seconds at worst on one core; salt and subkey are at most :data:`MAX_SALT` and
:data:`MAX_SUBKEY` bytes. Anything outside these bounds, or malformed in any way, never
verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass

# KeyDerivationPrf values in a V3 header -> (hashlib name, digest size in bytes).
PRFS = {0: ("sha1", 20), 1: ("sha256", 32), 2: ("sha512", 64)}
MIN_SALT = MIN_SUBKEY = 128 // 8  # what ASP.NET itself requires of a V3 hash
MAX_SALT = 256
MAX_SUBKEY = 128
MAX_WORK = 4_000_000  # iterations × PRF output blocks
_V2_LENGTH = 1 + 16 + 32
_V3_HEADER = struct.Struct(">BIII")  # marker, prf, iteration count, salt length
# Longest base64 text worth decoding: a V3 hash with the largest salt and subkey.
_MAX_TEXT = 4 * ((_V3_HEADER.size + MAX_SALT + MAX_SUBKEY + 2) // 3)


@dataclass(frozen=True)
class AspNetHash:
    """A well-formed ASP.NET Core Identity hash within the bounds above."""

    version: int  # 2 or 3
    prf: str  # hashlib name: sha1, sha256 or sha512
    iterations: int
    salt: bytes
    subkey: bytes

    def describe(self) -> str:
        """A short text for operators, e.g. ``ASP.NET Identity V3 (HMAC-SHA512, 100000
        iterations)``; never the salt or subkey."""
        return f"ASP.NET Identity V{self.version} (HMAC-{self.prf.upper()}, {self.iterations} iterations)"


def parse_aspnet_identity_hash(stored: object) -> AspNetHash | None:
    """The parsed hash, or None when ``stored`` is not a well-formed V2/V3 hash within the
    bounds of this module. Never raises, never runs PBKDF2."""
    if not isinstance(stored, str):
        return None
    text = stored.strip()
    if not text or len(text) > _MAX_TEXT:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw:
        return None
    if raw[0] == 0x00:
        return _parse_v2(raw)
    if raw[0] == 0x01:
        return _parse_v3(raw)
    return None


def is_aspnet_identity_hash(stored: object) -> bool:
    """Whether ``stored`` is a hash :func:`verify_aspnet_identity_hash` can check."""
    return parse_aspnet_identity_hash(stored) is not None


def verify_aspnet_identity_hash(stored: object, password: str) -> bool:
    """True only when ``stored`` is a well-formed ASP.NET Core Identity hash of ``password``.
    False for a mismatch and for anything malformed or out of bounds; never raises."""
    parsed = parse_aspnet_identity_hash(stored)
    return parsed is not None and verify_parsed(parsed, password)


def verify_parsed(parsed: AspNetHash, password: str) -> bool:
    """Run PBKDF2 for ``password`` with the parameters of ``parsed`` and compare the subkeys in
    constant time. False (never an exception) for a password that is not a str or cannot be
    encoded as UTF-8 (a lone surrogate)."""
    if not isinstance(password, str):
        return False
    try:
        secret = password.encode("utf-8")
    except UnicodeEncodeError:
        return False
    derived = hashlib.pbkdf2_hmac(parsed.prf, secret, parsed.salt, parsed.iterations, len(parsed.subkey))
    return hmac.compare_digest(derived, parsed.subkey)


def _parse_v2(raw: bytes) -> AspNetHash | None:
    if len(raw) != _V2_LENGTH:
        return None
    return AspNetHash(2, "sha1", 1000, raw[1:17], raw[17:])


def _parse_v3(raw: bytes) -> AspNetHash | None:
    if len(raw) < _V3_HEADER.size:
        return None
    _marker, prf, iterations, salt_length = _V3_HEADER.unpack_from(raw)
    if prf not in PRFS or not MIN_SALT <= salt_length <= MAX_SALT:
        return None
    subkey = raw[_V3_HEADER.size + salt_length :]
    if not MIN_SUBKEY <= len(subkey) <= MAX_SUBKEY:
        return None  # also catches a payload shorter than its declared salt
    name, digest_size = PRFS[prf]
    blocks = -(-len(subkey) // digest_size)
    if iterations < 1 or iterations * blocks > MAX_WORK:
        return None
    salt = raw[_V3_HEADER.size : _V3_HEADER.size + salt_length]
    return AspNetHash(3, name, iterations, salt, subkey)
