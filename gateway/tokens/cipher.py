"""Encryption at rest for signing keys, keyed by GATEWAY_KEY_ENCRYPTION_KEY."""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken

from gateway.tokens.sealing import derive_key

HKDF_INFO = b"dronedb-auth-gateway key encryption v1"
MIN_SECRET_LENGTH = 32


class KeyDecryptionError(Exception):
    """A stored key could not be decrypted: the secret is not the one it was encrypted with."""


def generate_secret() -> str:
    """A fresh secret suitable for GATEWAY_KEY_ENCRYPTION_KEY (32 random bytes, urlsafe base64)."""
    return secrets.token_urlsafe(32)


class KeyCipher:
    """Authenticated symmetric encryption (Fernet) with a key derived from a secret by HKDF-SHA256.

    The same secret always derives the same key, so every worker and replica configured with it
    can decrypt what any other encrypted.
    """

    def __init__(self, secret: str):
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"GATEWAY_KEY_ENCRYPTION_KEY must be at least {MIN_SECRET_LENGTH} characters")
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret, HKDF_INFO)))

    def __repr__(self) -> str:
        return "KeyCipher(<secret>)"

    def encrypt(self, plaintext: bytes) -> bytes:
        """Encrypt and authenticate ``plaintext``; the result is opaque bytes."""
        return self._fernet.encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Return the plaintext, or raise KeyDecryptionError if it was not encrypted with this secret."""
        try:
            return self._fernet.decrypt(bytes(ciphertext))
        except (InvalidToken, TypeError, ValueError):
            raise KeyDecryptionError(
                "cannot decrypt a stored signing key: GATEWAY_KEY_ENCRYPTION_KEY does not match "
                "the one the keys were encrypted with"
            ) from None
