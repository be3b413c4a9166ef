"""TOTP (RFC 6238) with :mod:`pyotp`: new secrets, the enrolment QR code (:mod:`segno`, an
inline SVG data URI: no image file, nothing fetched), and checking a code once.

A code is accepted in its 30-second step or the one before or after (clock drift), and only
once: the step it matched is marked used in the state store for as long as it could still be
accepted, so a code read over a shoulder or replayed from a log is refused.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pyotp
import segno

from gateway.storage.state import StateStore

STEP_SECONDS = 30
DRIFT_STEPS = 1
_CODE = re.compile(r"[0-9]{6}")


def new_secret() -> str:
    """A fresh base32 secret (160 bits, as RFC 4226 recommends)."""
    return pyotp.random_base32(32)


def is_secret(value: str) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[A-Z2-7]{32}", value) is not None


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    """The ``otpauth://`` URI authenticator apps read from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def qr_data_uri(uri: str) -> str:
    """The QR code of ``uri`` as an SVG ``data:`` URI (allowed by the pages' CSP)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#000", light="#fff")


def clean_code(code: str) -> str | None:
    """Six digits from what was typed (spaces allowed), or None."""
    typed = "".join((code or "")[:32].split())
    return typed if _CODE.fullmatch(typed) else None


class TotpCheck:
    """Checks codes against secrets, each code's time step usable once."""

    def __init__(self, store: StateStore, clock: Callable[[], float] = time.time):
        self._store = store
        self._clock = clock

    def matching_step(self, secret: str, code: str) -> int | None:
        """The time step ``code`` is right for (this one or a neighbour), or None."""
        typed = clean_code(code)
        if typed is None:
            return None
        totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
        now = self._clock()
        for offset in (0, -DRIFT_STEPS, DRIFT_STEPS):
            at = now + offset * STEP_SECONDS
            if totp.verify(typed, for_time=at, valid_window=0):
                return int(at // STEP_SECONDS)
        return None

    def use(self, factor_id: str, secret: str, code: str) -> bool:
        """Whether ``code`` is right for ``secret`` now and was not used before (it is now)."""
        step = self.matching_step(secret, code)
        if step is None:
            return False
        ttl = STEP_SECONDS * (2 * DRIFT_STEPS + 2)
        return self._store.add(f"mfa:totp-used:{factor_id}:{step}", "1", ttl)
