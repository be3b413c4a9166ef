"""Compact JWS tokens read without verification: to route a token to the provider that
verifies it, and to look at a header before pyjwt does.

Everything here is untrusted until a provider has verified the signature.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import jwt

from providers.base import MAX_TOKEN_LENGTH
from providers.strictjson import parse_json


def unverified_segment(segment: str) -> dict[str, Any] | None:
    """The JSON object a compact JWS segment encodes (base64url), read without verification
    by the bounded parser (:mod:`providers.strictjson`); None when it is anything else."""
    try:
        data = parse_json(
            base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)), max_bytes=MAX_TOKEN_LENGTH
        )
    except (ValueError, binascii.Error):  # HostileJson is a ValueError
        return None
    return data if isinstance(data, dict) else None


def jwt_header(token: str) -> dict[str, Any] | None:
    """The unverified header of a compact JWS (three segments), or None when it is not one.
    The bounded parser reads it first: pyjwt's own ``json.loads`` only ever sees a header that
    parser accepted (no nesting that exhausts the stack, no duplicate keys)."""
    if token.count(".") != 2 or unverified_segment(token.split(".", 1)[0]) is None:
        return None
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        return None
    return header if isinstance(header.get("alg"), str) else None
