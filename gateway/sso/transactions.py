"""Browser login transactions sealed for the browser to carry, so starting a login stores nothing.

:class:`TransactionSeal` turns a login transaction (provider, state, nonce, PKCE verifier,
redirect URI, where to go next, when it was issued and when it expires) into an opaque,
cookie-safe string and back. It is AES-256-GCM: the browser can neither read the nonce and
verifier nor change, truncate or extend anything without the value failing to open
(:class:`gateway.tokens.sealing.Sealer`). The key is derived by HKDF-SHA256 from
GATEWAY_KEY_ENCRYPTION_KEY with a label of its own, so every worker and replica configured with
that secret opens what any other sealed, and the key is neither the one that encrypts signing
keys nor the ones that MAC the gateway's cookies.

Sealing proves only that the gateway issued the transaction, not that it is used once:
:meth:`gateway.sso.service.SsoService.complete` adds the single-use marker in the shared store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.tokens.sealing import BrokenSeal, Sealer

HKDF_INFO = b"dronedb-auth-gateway sso transaction v1"
# Bound to the format version: a value sealed for another purpose or format never opens here.
_ASSOCIATED_DATA = b"sso transaction v1"
# Far above a real sealed transaction (about 600 characters), far below a cookie header's limit.
MAX_SEALED_CHARS = 4096


class UnreadableTransaction(Exception):
    """A sealed transaction that cannot be used. ``reason`` is ``bad_state`` (not sealed by this
    gateway's secret: tampered, truncated, forged, another key) or ``expired_state``."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OpenedTransaction:
    """What :meth:`TransactionSeal.open` found: the provider's transaction as
    :meth:`providers.base.CallbackProvider.start` gave it, and the gateway's own fields."""

    provider: str
    next_url: str
    issued_at: float
    expires_at: float
    transaction: dict[str, Any]

    @property
    def state(self) -> str:
        return str(self.transaction.get("state", ""))


class TransactionSeal:
    """Seals and opens login transactions under a key derived from the server secret."""

    def __init__(self, secret: str, lifetime_seconds: float, clock: Callable[[], float] = time.time):
        self._sealer = Sealer(secret, HKDF_INFO, _ASSOCIATED_DATA)
        self._lifetime = lifetime_seconds
        self._clock = clock

    def __repr__(self) -> str:
        return "TransactionSeal(<secret>)"

    def now(self) -> float:
        """The wall-clock time expiry is measured against (shared by every replica)."""
        return self._clock()

    def seal(
        self, provider_id: str, transaction: Mapping[str, Any], next_url: str, issued_at: float | None = None
    ) -> str:
        """The cookie-safe sealed form of a transaction issued now (or at ``issued_at``),
        expiring ``lifetime_seconds`` later."""
        issued = self.now() if issued_at is None else issued_at
        record = {
            "v": 1,
            "provider": provider_id,
            "next": next_url,
            "iat": round(issued, 3),
            "exp": round(issued + self._lifetime, 3),
            "transaction": dict(transaction),
        }
        return self._sealer.seal(json.dumps(record, separators=(",", ":")).encode())

    def open(self, sealed: str) -> OpenedTransaction:
        """The transaction ``sealed`` holds, if this secret sealed it and it has not expired.

        Raises UnreadableTransaction (``bad_state`` or ``expired_state``).
        """
        record = self._decrypt(sealed)
        try:
            opened = OpenedTransaction(
                provider=_text(record["provider"]),
                next_url=_text(record["next"]),
                issued_at=float(record["iat"]),
                expires_at=float(record["exp"]),
                transaction=dict(record["transaction"]),
            )
        except (KeyError, TypeError, ValueError):
            raise UnreadableTransaction("bad_state") from None
        if self.now() >= opened.expires_at:
            raise UnreadableTransaction("expired_state")
        return opened

    def _decrypt(self, sealed: str) -> dict[str, Any]:
        if not isinstance(sealed, str) or len(sealed) > MAX_SEALED_CHARS:  # Sealer checks the rest
            raise UnreadableTransaction("bad_state")
        try:
            record = json.loads(self._sealer.open(sealed))
        except (BrokenSeal, ValueError):
            raise UnreadableTransaction("bad_state") from None
        if not isinstance(record, dict) or record.get("v") != 1:
            raise UnreadableTransaction("bad_state")
        return record


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value
