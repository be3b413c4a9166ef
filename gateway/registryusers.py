"""What one DroneDB Registry user becomes at the gateway, for ``gateway import-registry``.

Pure: no I/O, no clock (the caller passes ``now``). :func:`interpret` turns one row read by
:mod:`gateway.registrysource` into the local user to create (a :class:`Target`), or a reason
not to import it; :mod:`gateway.registryimport` compares that with the gateway and writes.

* **Username**: the gateway's canonical form of ``UserName`` (its ``usernames:`` policy, as for
  every local user). The Registry finds users by ASP.NET Identity's normalised (upper-cased)
  name, so ``Alice`` imported as ``alice`` is still the same Registry account when ``alice``
  logs in through the gateway. A name with no canonical form is skipped.
* **Password**: the ``PasswordHash`` as it is. An ASP.NET Core Identity V2/V3 hash verifies at
  the gateway (:mod:`providers.local.aspnet`) and is replaced by argon2id at the first
  successful login. A user with no hash (it could never log in with a password) or with a hash
  in another format is skipped.
* **Email**: ``Email``.
* **Roles**: the names of the user's ``AspNetUserRoles`` become the user's per-user ``roles``
  (added to what the mapping policy grants, as for roles an admin gives a user). The Registry's
  ``deactivated`` role is not carried over: such a user is imported **disabled**. A role name
  the gateway cannot hand out is dropped, with a note.
* **Metadata** (the ``Metadata`` JSON object): ``maxStorageMB`` becomes the per-user quota when
  it is a JSON integer (the Registry honours nothing else; any other value meant unlimited there
  and is not imported, with a note). Other keys with a string, integer or boolean value become
  the user's metadata (the per-user answer values of the admin API); other values are dropped
  with a note. ``roles`` (the AspNetUserRoles table is what counts) and ``username`` are
  ignored. A ``Metadata`` cell that is not a JSON object (the Registry itself cannot load that
  user) skips the user: fix the cell and run the import again.
* **Enabled**: disabled when in ``deactivated``, or when locked out (``LockoutEnabled`` and a
  ``LockoutEnd``) for more than :data:`LOCKOUT_MEANS_DISABLED` from now. The Registry's own
  lockout after failed logins lasts minutes; a longer one was set on purpose. A ``LockoutEnd``
  that cannot be read imports the user disabled, with a note.

Not imported at all
-------------------
* A user with no user name, or one with no canonical form under the gateway's ``usernames:``
  policy.
* The gateway's own admin (``admin.username``, ``admin`` by default): the gateway creates it
  itself, with its password from GATEWAY_ADMIN_PASSWORD. A Registry user of that name (the
  Registry's built-in admin is also called ``admin`` by default) is skipped; set the gateway
  admin's password with ``gateway users set-password`` if it should stay the Registry one's.
* A user with no password hash, or a hash that is not ASP.NET Core Identity V2/V3 within the
  bounds of :mod:`providers.local.aspnet`.
* A user whose ``Metadata`` is not a JSON object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from gateway.mapping import is_metadata_value, is_quota, is_role_name, validate_overrides
from gateway.registrysource import RegistryUser
from gateway.usernames import UsernamePolicy
from providers.local.aspnet import parse_aspnet_identity_hash

DEACTIVATED_ROLE = "deactivated"
LOCKOUT_MEANS_DISABLED = timedelta(days=1)
_IGNORED_METADATA = frozenset({"roles", "username"})


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


def interpret(user: RegistryUser, usernames: UsernamePolicy, admin_username: str,
              now: datetime) -> Interpretation:
    """What ``user`` becomes (see the module docstring). Never raises."""
    if not user.username:
        return Interpretation(None, "no user name")
    username = usernames.canonical(user.username)
    if username is None:
        return Interpretation(None, "not a username the gateway accepts (its usernames: policy)")
    if username == admin_username:
        return Interpretation(None, "the gateway's own admin (admin.username) is not imported; "
                                    "set its password with `gateway users set-password` if it "
                                    "should stay the Registry's")
    if not user.password_hash:
        return Interpretation(None, "no password in the Registry")
    parsed = parse_aspnet_identity_hash(user.password_hash)
    if parsed is None:
        return Interpretation(None, "the password hash is not an ASP.NET Core Identity V2/V3 "
                                    "hash the gateway can verify")
    metadata = _metadata_object(user.metadata)
    if metadata is None:
        return Interpretation(None, "its Metadata is not a JSON object; fix it in the Registry "
                                    "and run the import again")
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
        return Interpretation(None, f"metadata: {error}", tuple(notes))
    email = (user.email or "").strip() or None
    target = Target(username, email, enabled, overrides, user.password_hash, parsed.describe())
    return Interpretation(target, notes=tuple(notes))


def _metadata_object(text: str | None) -> dict[str, Any] | None:
    """The Metadata cell as a dict ({} for no column, an empty cell or JSON null); None when
    it is not a JSON object."""
    if text is None or not str(text).strip():
        return {}
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return None
    if value is None:
        return {}
    return value if isinstance(value, dict) else None


def _metadata_overrides(metadata: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """The per-user values the Registry's Metadata gives; what is dropped goes to ``notes``."""
    overrides: dict[str, Any] = {}
    for key, value in metadata.items():
        if key in _IGNORED_METADATA or not key:
            continue
        if key == "maxStorageMB":
            if type(value) is int and is_quota(value):
                overrides[key] = value
            else:
                notes.append(f"maxStorageMB {json.dumps(value)} is not a whole number of MB "
                             "(the Registry treated it as unlimited): not imported")
            continue
        problem = None if is_metadata_value(value) else "not a string, integer or boolean"
        if problem is None:
            try:
                validate_overrides({key: value})
            except ValueError as error:
                problem = str(error).split(": ", 1)[-1]
        if problem:
            notes.append(f"metadata {key!r} dropped: {problem}")
        else:
            overrides[key] = value
    return overrides


def _roles(names: Iterable[str], notes: list[str]) -> tuple[list[str], bool]:
    """The role names to keep (sorted, unique) and whether the user is deactivated."""
    kept: list[str] = []
    deactivated = False
    for name in sorted(set(names)):
        if name.casefold() == DEACTIVATED_ROLE:
            deactivated = True
        elif is_role_name(name):
            kept.append(name)
        else:
            notes.append(f"role {name!r} dropped: not a role name the gateway can hand out")
    return kept, deactivated


def _locked_out(user: RegistryUser, now: datetime, notes: list[str]) -> bool:
    """Whether a lockout makes the user disabled (see the module docstring)."""
    if not user.lockout_enabled or user.lockout_end in (None, ""):
        return False
    end = _datetime(user.lockout_end)
    if end is None:
        notes.append("its LockoutEnd cannot be read: imported disabled")
        return True
    if end > now + LOCKOUT_MEANS_DISABLED:
        notes.append(f"locked out in the Registry until {end:%Y-%m-%d %H:%M} UTC: imported "
                     "disabled")
        return True
    return False


def _datetime(value: Any) -> datetime | None:
    """A LockoutEnd as aware UTC: MySQL gives a naive UTC datetime, SQLite a text such as
    ``2031-01-01 00:00:00+00:00`` (with up to 7 fraction digits)."""
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip().replace("T", " ")
        head, dot, rest = text.partition(".")
        if dot:  # .NET writes 7 fraction digits; Python reads at most 6
            digits = len(rest) - len(rest.lstrip("0123456789"))
            rest = rest[:min(digits, 6)] + rest[digits:]
            text = f"{head}.{rest}"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
