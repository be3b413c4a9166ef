"""What one DroneDB Registry user becomes at the gateway, for ``gateway import-registry``.

Pure: no I/O, no clock (the caller passes ``now``). :func:`interpret` turns one row read by
:mod:`gateway.registry.source` into the local user to create (a :class:`Target`), or a reason
not to import it; :mod:`gateway.registry.importer` compares that with the gateway and writes.

* **Username**: the gateway's canonical form of ``UserName`` (its ``usernames:`` policy, as for
  every local user). The Registry finds users by ASP.NET Identity's normalised (upper-cased)
  name, so ``Alice`` imported as ``alice`` is still the same Registry account when ``alice``
  logs in through the gateway. A name with no canonical form is skipped.
* **Password**: the ``PasswordHash`` as it is. An ASP.NET Core Identity V2/V3 hash verifies at
  the gateway (:mod:`providers.local.aspnet`) and is replaced by argon2id at the first
  successful login. A user with no hash (it could never log in with a password) or with a hash
  in another format is skipped.
* **Email**: ``Email``, when it is text of at most 320 characters with no control character
  (NUL included); otherwise it is dropped, with a note.
* **Roles**: the names of the user's ``AspNetUserRoles`` become the user's per-user ``roles``
  (added to what the mapping policy grants, as for roles an admin gives a user). The Registry's
  ``deactivated`` role is not carried over: such a user is imported **disabled**. A role name
  the gateway cannot hand out (or one that is not UTF-8 text) is dropped, with a note.
* **Metadata** (the ``Metadata`` JSON object): ``maxStorageMB`` becomes the per-user quota when
  it is a JSON integer (the Registry honours nothing else; any other value meant unlimited there
  and is not imported, with a note). Other keys with a string, integer or boolean value become
  the user's metadata (the per-user answer values of the admin API); other values, and keys or
  string values holding a control character (NUL included), are dropped with a note. ``roles``
  (the AspNetUserRoles table is what counts) and ``username`` are ignored. A ``Metadata`` cell
  that is not a JSON object (the Registry itself cannot load that user), or is longer than
  :data:`MAX_METADATA_CHARS`, skips the user: fix the cell and run the import again.
* **Enabled**: disabled when in ``deactivated``, or when locked out (``LockoutEnabled`` and a
  ``LockoutEnd``) for more than :data:`LOCKOUT_MEANS_DISABLED` from now. The Registry's own
  lockout after failed logins lasts minutes; a longer one was set on purpose. A ``LockoutEnd``
  that cannot be read imports the user disabled, with a note; one out of range in UTC (such as
  ``0001-01-01 00:00:00+05:00``) counts as no lockout near year 1 and as a lockout for ever near
  year 9999, with a note.

Not imported at all
-------------------
* A user with no user name, one whose ``UserName`` is not UTF-8 text or holds a control
  character, or one with no canonical form under the gateway's ``usernames:`` policy.
* The gateway's own admin (``admin.username``, ``admin`` by default): the gateway creates it
  itself, with its password from GATEWAY_ADMIN_PASSWORD. A Registry user of that name (the
  Registry's built-in admin is also called ``admin`` by default) is skipped; set the gateway
  admin's password with ``gateway users set-password`` if it should stay the Registry one's.
* A user with no password hash, or a hash that is not ASP.NET Core Identity V2/V3 within the
  bounds of :mod:`providers.local.aspnet`.
* A user whose ``Metadata`` is not a JSON object.
* A row that cannot be interpreted for any other reason ("unreadable row"; the error is not
  shown, as it may quote a cell).

Values that are not text where text is expected (a BLOB that is not UTF-8, an SQLite number)
are unreadable: such a ``UserName`` skips the user, such a role or ``Email`` is dropped.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.login.usernames import UsernamePolicy
from gateway.mapping import is_metadata_value, is_quota, is_role_name, validate_overrides
from gateway.registry.source import RegistryUser
from providers.local.aspnet import parse_aspnet_identity_hash

DEACTIVATED_ROLE = "deactivated"
LOCKOUT_MEANS_DISABLED = timedelta(days=1)
MAX_METADATA_CHARS = 1024 * 1024  # a longer Metadata cell skips the user
MAX_EMAIL_LENGTH = 320  # the gateway's local_users.email column
UNREADABLE_ROW = "unreadable row"
_IGNORED_METADATA = frozenset({"roles", "username"})
_NOT_JSON = object()


@dataclass(frozen=True)
class Target:
    """What the gateway's local user should hold."""

    username: str
    email: str | None
    enabled: bool
    overrides: dict[str, Any]
    password_hash: str
    hash_format: str


@dataclass(frozen=True)
class Interpretation:
    """A :class:`Target`, or None with ``skip_reason``; ``notes`` say what was dropped or
    adjusted on the way."""

    target: Target | None
    skip_reason: str = ""
    notes: tuple[str, ...] = ()


def interpret(
    user: RegistryUser, usernames: UsernamePolicy, admin_username: str, now: datetime
) -> Interpretation:
    """What ``user`` becomes (see the module docstring). Never raises: a row that fails in an
    unforeseen way is skipped as an unreadable row (the exception, which may quote a cell, is
    not shown)."""
    try:
        return _interpret(user, usernames, admin_username, now)
    except Exception:
        return Interpretation(None, UNREADABLE_ROW)


def registry_name(user: RegistryUser) -> str:
    """How to show ``user`` in the import's output: its UserName when that is a clean text,
    else an escaped, shortened form (never control characters for a terminal). Never raises."""
    try:
        if isinstance(user.username, str) and user.username:
            return shown(user.username)
        return f"(id {shown(user.id)})"
    except Exception:
        return "(unreadable)"


def shown(text: Any, limit: int = 80) -> str:
    """``text`` fit for one line of output: control characters escaped, at most ``limit``
    characters (then an ellipsis)."""
    if not isinstance(text, str):
        text = repr(text)
    if _has_bad_characters(text):
        text = text.encode("unicode_escape", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[:limit] + "\u2026"


def _quoted(value: Any, limit: int = 80) -> str:
    """``repr(value)`` (which escapes control characters), at most ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "\u2026"


def _interpret(
    user: RegistryUser, usernames: UsernamePolicy, admin_username: str, now: datetime
) -> Interpretation:
    if user.username is None or user.username == "":
        return Interpretation(None, "no user name")
    if not isinstance(user.username, str):
        return Interpretation(None, "its UserName is unreadable (not UTF-8 text)")
    if _has_bad_characters(user.username):
        return Interpretation(None, "its UserName holds control characters")
    username = usernames.canonical(user.username)
    if username is None:
        return Interpretation(None, "not a username the gateway accepts (its usernames: policy)")
    if username == admin_username:
        return Interpretation(
            None,
            "the gateway's own admin (admin.username) is not imported; "
            "set its password with `gateway users set-password` if it "
            "should stay the Registry's",
        )
    if not user.password_hash:
        return Interpretation(None, "no password in the Registry")
    parsed = parse_aspnet_identity_hash(user.password_hash)
    if parsed is None:
        return Interpretation(
            None, "the password hash is not an ASP.NET Core Identity V2/V3 hash the gateway can verify"
        )
    metadata, problem = _metadata_object(user.metadata)
    if metadata is None:
        return Interpretation(None, problem)
    notes: list[str] = []
    roles, deactivated = _roles(user.roles, notes)
    overrides = _metadata_overrides(metadata, notes)
    if roles:
        overrides["roles"] = roles
    enabled = not deactivated and not _locked_out(user, now, notes)
    if deactivated:
        notes.append(f"in the Registry's {DEACTIVATED_ROLE!r} role: imported disabled")
    try:
        overrides = validate_overrides(overrides)
    except ValueError as error:  # not after the filtering above; never import half a user
        return Interpretation(None, f"metadata: {shown(str(error), 200)}", tuple(notes))
    email = _email(user.email, notes)
    target = Target(username, email, enabled, overrides, user.password_hash, parsed.describe())
    return Interpretation(target, notes=tuple(notes))


def _has_bad_characters(text: str) -> bool:
    """Whether ``text`` holds a character no imported value may hold: a control character
    (NUL included; PostgreSQL refuses NUL) or a lone surrogate (not encodable as UTF-8)."""
    return any(unicodedata.category(char) in ("Cc", "Cs") for char in text)


def _email(value: Any, notes: list[str]) -> str | None:
    """The Email to import, or None (with a note when one was there but is unusable)."""
    if value is None:
        return None
    if not isinstance(value, str):
        notes.append("its Email is unreadable (not UTF-8 text): not imported")
        return None
    email = value.strip()
    if not email:
        return None
    if len(email) > MAX_EMAIL_LENGTH:
        notes.append(f"its Email is longer than {MAX_EMAIL_LENGTH} characters: not imported")
        return None
    if _has_bad_characters(email):
        notes.append(f"its Email {_quoted(email)} holds control characters: not imported")
        return None
    return email


def _metadata_object(text: Any) -> tuple[dict[str, Any] | None, str]:
    """The Metadata cell as a dict ({} for no column, an empty cell or JSON null), or None and
    why the user is skipped."""
    if text is None:
        return {}, ""
    if not isinstance(text, str):
        return None, "its Metadata is unreadable (not UTF-8 text)"
    if len(text) > MAX_METADATA_CHARS:
        return None, (
            f"Metadata too large (over {MAX_METADATA_CHARS // (1024 * 1024)} MiB); fix "
            "it in the Registry and run the import again"
        )
    if not text.strip():
        return {}, ""
    try:
        value = json.loads(text)
    except (ValueError, TypeError, RecursionError):  # RecursionError: nested too deep
        value = _NOT_JSON
    if value is None:
        return {}, ""
    if isinstance(value, dict):
        return value, ""
    return None, ("its Metadata is not a JSON object; fix it in the Registry and run the import again")


def _metadata_overrides(metadata: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """The per-user values the Registry's Metadata gives; what is dropped goes to ``notes``."""
    overrides: dict[str, Any] = {}
    for key, value in metadata.items():
        if key in _IGNORED_METADATA or not key:
            continue
        if _has_bad_characters(key):
            notes.append(f"metadata {_quoted(key)} dropped: its key holds control characters")
            continue
        if key == "maxStorageMB":
            if type(value) is int and is_quota(value):
                overrides[key] = value
            else:
                notes.append(
                    f"maxStorageMB {_json_shown(value)} is not a whole number of MB "
                    "(the Registry treated it as unlimited): not imported"
                )
            continue
        problem = None if is_metadata_value(value) else "not a string, integer or boolean"
        if problem is None and isinstance(value, str) and _has_bad_characters(value):
            problem = "its value holds control characters"
        if problem is None:
            try:
                validate_overrides({key: value})
            except ValueError as error:
                problem = str(error).split(": ", 1)[-1]
        if problem:
            notes.append(f"metadata {_quoted(key)} dropped: {problem}")
        else:
            overrides[key] = value
    return overrides


def _json_shown(value: Any) -> str:
    try:
        return shown(json.dumps(value))
    except (ValueError, TypeError, RecursionError):
        return "(a value)"


def _roles(names: Iterable[Any], notes: list[str]) -> tuple[list[str], bool]:
    """The role names to keep (sorted, unique) and whether the user is deactivated."""
    kept: list[str] = []
    deactivated = False
    texts = set()
    for name in names:
        if isinstance(name, str):
            texts.add(name)
        else:
            notes.append("a role whose name is unreadable (not UTF-8 text) dropped")
    for name in sorted(texts):
        if name.casefold() == DEACTIVATED_ROLE:
            deactivated = True
        elif is_role_name(name):
            kept.append(name)
        else:
            notes.append(f"role {_quoted(name)} dropped: not a role name the gateway can hand out")
    return kept, deactivated


def _locked_out(user: RegistryUser, now: datetime, notes: list[str]) -> bool:
    """Whether a lockout makes the user disabled (see the module docstring)."""
    if not user.lockout_enabled or user.lockout_end in (None, ""):
        return False
    try:
        end = _datetime(user.lockout_end)
    except OverflowError:  # within a day of year 1 or year 9999 once moved to UTC
        if _far_past(user.lockout_end):
            notes.append("its LockoutEnd is before year 1 in UTC: treated as no lockout")
            return False
        notes.append("its LockoutEnd is after year 9999 in UTC: imported disabled")
        return True
    if end is None:
        notes.append("its LockoutEnd cannot be read: imported disabled")
        return True
    if end > now + LOCKOUT_MEANS_DISABLED:
        notes.append(f"locked out in the Registry until {end:%Y-%m-%d %H:%M} UTC: imported disabled")
        return True
    return False


def _far_past(value: Any) -> bool:
    """Whether a LockoutEnd that overflowed in UTC is at the start of the calendar (an
    expired lockout) rather than at its end (a lockout for ever)."""
    if isinstance(value, datetime):
        return value.year < 5000
    return str(value).strip()[:4] < "5000"  # fromisoformat read it: it starts with YYYY


def _datetime(value: Any) -> datetime | None:
    """A LockoutEnd as aware UTC: MySQL gives a naive UTC datetime, SQLite a text such as
    ``2031-01-01 00:00:00+00:00`` (with up to 7 fraction digits). Raises OverflowError when
    the time is out of range in UTC (``0001-01-01 00:00:00+05:00``)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        text = value.strip().replace("T", " ")
        head, dot, rest = text.partition(".")
        if dot:  # .NET writes 7 fraction digits; Python reads at most 6
            digits = len(rest) - len(rest.lstrip("0123456789"))
            rest = rest[: min(digits, 6)] + rest[digits:]
            text = f"{head}.{rest}"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:  # bytes that are not UTF-8, an SQLite number
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
