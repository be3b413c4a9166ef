"""Storage quotas as people write them, and as the Registry needs them.

A quota is written as a whole number of megabytes (``5120``), a size with a unit
(``"500 MB"``, ``"50GB"``, ``"2 TB"``, ``"1.5 GB"``) or ``"unlimited"``; units and the word
``unlimited`` are case-insensitive. The units are binary multiples, like the Registry's own
count (it measures ``maxStorageMB`` in units of 1024² bytes): 1 GB = 1024 MB, 1 TB = 1024 GB.
Whatever the spelling, :func:`parse_quota` gives back the integer megabytes (or ``"unlimited"``)
that is stored and sent to the Registry as a JSON integer.

A bare number in a string (``"5120"``) is refused: the Registry ignores a quota sent as a
string, so a quoted number in YAML or JSON is more likely a mistake than a choice. Form fields,
where everything is text, turn digits into an int first (:func:`parse_quota_text`).

Pure Python: no I/O.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any, Final, Literal, TypeGuard

UNLIMITED: Final = "unlimited"
"""The spelling of "no storage limit" in the policy and in overrides."""

# The Registry honours maxStorageMB only as a JSON integer it can box as a .NET long.
MAX_QUOTA: Final = 2**63 - 1

Quota = int | Literal["unlimited"]

UNITS: Final = {"mb": 1, "gb": 1024, "tb": 1024 * 1024}
"""Megabytes per unit (binary multiples, as the Registry counts)."""

QUOTA_HELP: Final = (
    f'must be a non-negative integer of MB (at most {MAX_QUOTA}), a size such as "500 MB", '
    f'"50 GB" or "2 TB" (1 GB = 1024 MB), or "{UNLIMITED}"'
)

_SIZE = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?)\s*(?P<unit>[a-z]+)")
_MAX_TEXT = 64


class QuotaError(ValueError):
    """A value that is not a quota; the message (starting "must") says why, without naming the key."""


def is_quota(value: Any) -> TypeGuard[Quota]:
    """True for ``"unlimited"`` or an int in ``[0, 2**63-1]``; bools, floats and strings are not.

    This is the stored, canonical form: what :func:`parse_quota` returns."""
    if isinstance(value, str):
        return value == UNLIMITED
    return type(value) is int and 0 <= value <= MAX_QUOTA


def parse_quota(value: Any) -> Quota:
    """The canonical quota (integer MB or ``"unlimited"``) that ``value`` spells.

    Accepts an int of MB, ``"unlimited"`` in any case, or a string of a number (whole or
    decimal) and a unit MB, GB or TB in any case, with or without a space. Raises
    :class:`QuotaError` for anything else: bools, floats, negative numbers, bare digit
    strings, unknown units, sizes that are not a whole number of MB, more than 2**63-1 MB.
    """
    if is_quota(value):
        return value
    if type(value) is int:
        if value < 0:
            raise QuotaError(f"{QUOTA_HELP}; it cannot be negative")
        raise QuotaError(f"must be at most {MAX_QUOTA} MB")
    if not isinstance(value, str):
        raise QuotaError(QUOTA_HELP)
    return _parse_text(value)


def parse_quota_text(text: str) -> Quota:
    """:func:`parse_quota` for text typed in a form, where a bare whole number means MB."""
    text = text.strip()
    if text.isascii() and text.isdigit():
        return parse_quota(int(text)) if len(text) <= 20 else _too_large()
    return parse_quota(text)


def format_quota(quota: Quota) -> str:
    """``quota`` in the largest unit that shows it exactly: ``"5 GB"``, ``"1536 MB"``,
    ``"2 TB"``, ``"unlimited"``; ``parse_quota`` of the result gives ``quota`` back."""
    if quota == UNLIMITED:
        return UNLIMITED
    for unit in ("TB", "GB"):
        per_unit = UNITS[unit.lower()]
        if quota and quota % per_unit == 0:
            return f"{quota // per_unit} {unit}"
    return f"{quota} MB"


def _parse_text(value: str) -> Quota:
    text = value.strip().lower()
    if text == UNLIMITED:
        return UNLIMITED
    if len(text) > _MAX_TEXT:
        raise QuotaError(QUOTA_HELP)
    if text.startswith("-"):
        raise QuotaError(f"{QUOTA_HELP}; it cannot be negative")
    if text.isascii() and text.isdigit():
        raise QuotaError(f'{QUOTA_HELP}; a number in quotes is not one: write {text} or "{text} MB"')
    size = _SIZE.fullmatch(text)
    if size is None or not text.isascii():
        raise QuotaError(QUOTA_HELP)
    unit = size["unit"]
    if unit not in UNITS:
        raise QuotaError(f"must use the unit MB, GB or TB, not {unit!r}")
    megabytes = Fraction(size["number"]) * UNITS[unit]
    if megabytes.denominator != 1:
        raise QuotaError(f"must be a whole number of MB; {value.strip()!r} is not")
    if megabytes > MAX_QUOTA:
        _too_large()
    return int(megabytes)


def _too_large() -> Quota:
    raise QuotaError(f"must be at most {MAX_QUOTA} MB")
