"""Signed, session-bound tokens: key storage and rotation, minting and verification."""

from gateway.tokens.cipher import KeyCipher, KeyDecryptionError, generate_secret
from gateway.tokens.keys import SUPPORTED_ALGORITHMS, KeyRing, NoSigningKeyError, jwk_thumbprint
from gateway.tokens.service import InvalidToken, TokenService, VerifiedToken

__all__ = [
    "KeyCipher",
    "KeyDecryptionError",
    "generate_secret",
    "KeyRing",
    "NoSigningKeyError",
    "SUPPORTED_ALGORITHMS",
    "jwk_thumbprint",
    "InvalidToken",
    "TokenService",
    "VerifiedToken",
]
