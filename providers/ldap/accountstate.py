"""Is a directory account allowed to log in, once its password was proven right?

Two sources, both only consulted after the password is known to be right (so the answer
cannot be used to learn about accounts without their password):

* the entry's state attributes, read with the user search: Active Directory's
  ``userAccountControl`` disabled/lockout bits, ``accountExpires`` and ``lockoutTime``;
  OpenLDAP ppolicy's ``pwdAccountLockedTime``;
* Active Directory's bind diagnostics: a refused bind says ``data 533`` (disabled),
  ``701`` (expired), ``773`` (must reset) and so on. AD only reports these after checking the
  password (``52e`` is the plain wrong-password answer); ``775`` (locked) it reports either
  way, so that one is treated as a wrong password.

Lock attributes go stale: AD clears ``lockoutTime`` only at the next successful logon, and
ppolicy clears ``pwdAccountLockedTime`` likewise once the lockout has run out. So a lock seen
before the bind is re-read after a successful bind, and only a lock
still there counts: the caller re-reads :data:`STATE_ATTRIBUTES` and asks :func:`refusal` again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from providers.ldap.entries import Entry

_ACCOUNTDISABLE = 0x2
_LOCKOUT = 0x10
_NEVER = {0, 0x7FFFFFFFFFFFFFFF}
_FILETIME_EPOCH_OFFSET = 116444736000000000  # 100 ns ticks from 1601-01-01 to 1970-01-01

# AD bind diagnostics ("... data 533, v4563") that mean "right password, account not usable".
_AD_REFUSALS = {
    "530": "logon not permitted at this time",
    "531": "logon not permitted from this workstation",
    "532": "password expired",
    "533": "account disabled",
    "701": "account expired",
    "773": "password must be reset",
}
# "775" (locked) is not among them: AD answers it whether or not the password is right, so a
# 403 for it would tell anyone that the account exists. It stays a plain 401.
_AD_DATA = re.compile(r"\bdata ([0-9a-f]{3,8})\b", re.IGNORECASE)

STATE_ATTRIBUTES = {
    "none": (),
    "openldap": ("pwdAccountLockedTime",),
    "active_directory": ("userAccountControl", "accountExpires", "lockoutTime"),
}


def bind_refusal(kind: str, diagnostic: str | None) -> str | None:
    """Why an AD bind that failed with invalidCredentials refused a *right* password, or None
    when the diagnostic is the plain wrong-password one (or this is not AD)."""
    if kind != "active_directory" or not diagnostic:
        return None
    match = _AD_DATA.search(diagnostic)
    return _AD_REFUSALS.get(match.group(1).lower()) if match else None


def refusal(kind: str, entry: Entry, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> str | None:
    """Why the account may not log in (by its attributes), or None if it may."""
    if kind == "active_directory":
        control = _integer(entry.first("userAccountControl"))
        if control is not None and control & _ACCOUNTDISABLE:
            return "account disabled"
        if control is not None and control & _LOCKOUT:
            return "account locked"
        expires = _integer(entry.first("accountExpires"))
        if expires is not None and expires not in _NEVER and _filetime(expires) <= now():
            return "account expired"
        if (_integer(entry.first("lockoutTime")) or 0) > 0:
            return "account locked"
    elif kind == "openldap":
        if entry.first("pwdAccountLockedTime"):
            return "account locked"
    return None


def is_lock(reason: str | None) -> bool:
    return reason == "account locked"


def _integer(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _filetime(ticks: int) -> datetime:
    seconds = (ticks - _FILETIME_EPOCH_OFFSET) / 10_000_000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.max.replace(tzinfo=UTC) if seconds > 0 else datetime.min.replace(tzinfo=UTC)
