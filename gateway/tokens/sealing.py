"""Values sealed under the server secret: AES-256-GCM with a key of their own, derived by HKDF.

A :class:`Sealer` turns bytes into an opaque, URL- and cookie-safe string (unpadded base64url
of a fresh 96-bit nonce followed by the ciphertext and its tag) and back. Each use names its own
HKDF ``info`` label, so its key is neither the one that encrypts signing keys, nor the one that
MACs the gateway's cookies, nor any other use's; and its own associated data, bound to the
format version, so a value sealed for one purpose or format never opens as another. Every
worker and replica configured with the same secret opens what any other sealed.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
_TAG_BYTES = 16
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class BrokenSeal(ValueError):
    """A value that does not open: not sealed under this secret and label, or tampered with,
    truncated or forged. Carries no part of the value."""


def derive_key(secret: str, info: bytes) -> bytes:
    """The 256-bit key HKDF-SHA256 derives from ``secret`` for the label ``info``."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret.encode("utf-8"))


class Sealer:
    """Seals and opens bytes under a key derived from ``secret`` with the label ``info``,
    authenticating ``associated_data`` along with them."""

    def __init__(self, secret: str, info: bytes, associated_data: bytes):
        self._aead = AESGCM(derive_key(secret, info))
        self._associated_data = associated_data

    def __repr__(self) -> str:
        return "Sealer(<secret>)"

    def seal(self, plaintext: bytes) -> str:
        """The sealed form of ``plaintext``: base64url without padding, different every time."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plaintext, self._associated_data)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, sealed: str) -> bytes:
        """The plaintext ``sealed`` holds, if this secret, label and associated data sealed it
        unchanged. Raises BrokenSeal otherwise (whatever was passed in)."""
        if not isinstance(sealed, str) or not _BASE64URL.fullmatch(sealed):
            raise BrokenSeal("not a sealed value")
        try:
            raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        except (binascii.Error, ValueError):
            raise BrokenSeal("not a sealed value") from None
        if len(raw) < NONCE_BYTES + _TAG_BYTES:
            raise BrokenSeal("not a sealed value")
        try:
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._associated_data)
        except InvalidTag:
            raise BrokenSeal("does not open under this key") from None
