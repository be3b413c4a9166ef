"""The identity a directory entry stands for: the one value a login and a directory read share.

Kept apart from the connections and searches so that a login (one user) and the whole-directory
read (every user) build identities by the very same rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from providers.base import Identity, ProviderUnavailable
from providers.ldap.entries import Entry
from providers.ldap.groups import Group, group_names
from providers.ldap.settings import UserSettings

log = logging.getLogger(__name__)


class MissingSubject(ValueError):
    """The entry has no readable ``user.id_attribute``: it cannot be told apart over time."""


def spellings(settings: UserSettings, entry: Entry, canonical: Callable[[str], str | None]) -> list[str]:
    """The entry's usernames, made canonical ("" for a value no username can be)."""
    return [canonical(value) or "" for value in entry.values(settings.username_attribute)]


def identity_from_entry(
    provider_id: str,
    settings: UserSettings,
    entry: Entry,
    username: str,
    groups: tuple[str, ...],
) -> Identity:
    """The identity of ``entry`` known as ``username`` (canonical), in ``groups``. Raises
    MissingSubject when the entry has no id: never the DN instead, as a user deleted and
    re-created under the same DN would inherit the old account."""
    subject = entry.first(settings.id_attribute)
    if not subject:
        raise MissingSubject(f"entry {entry.dn} has no readable {settings.id_attribute}")
    attributes: dict[str, object] = {}
    for exposed, ldap_name in settings.attributes.items():
        values = entry.values(ldap_name)
        if values:
            attributes[exposed] = values[0] if len(values) == 1 else values
    overrides: dict[str, object] = {}
    if settings.quota_attribute:
        quota = _quota(entry.first(settings.quota_attribute))
        if quota is not None:
            overrides["maxStorageMB"] = quota
        elif entry.first(settings.quota_attribute) is not None:
            log.warning(
                "ldap %s: %s of %s is not a non-negative integer; ignored",
                provider_id,
                settings.quota_attribute,
                entry.dn,
            )
    return Identity(
        provider=provider_id,
        subject=subject,
        username=username,
        email=entry.first(settings.email_attribute),
        display_name=entry.first(settings.display_name_attribute),
        groups=groups,
        attributes=attributes,
        overrides=overrides,
    )


def _quota(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if value <= 2**63 - 1 else None


def login_identity(
    provider_id: str,
    user: UserSettings,
    canonical: Callable[[str], str | None],
    typed: str,
    entry: Entry,
    groups: Sequence[Group],
) -> Identity:
    """The identity of ``entry`` for a login typed as ``typed`` (canonical), with ``groups``.
    ProviderUnavailable when the entry has no readable ``user.id_attribute``."""
    # A multi-valued username attribute: the value the user typed, if it is one of them.
    names = spellings(user, entry, canonical)
    username = typed if typed in names else (names[0] if names else "")
    try:
        return identity_from_entry(provider_id, user, entry, username, group_names(groups))
    except MissingSubject:
        # The operator must fix the attribute or the read permissions.
        log.error(
            "ldap %s: entry %s has no readable %s (user.id_attribute)",
            provider_id,
            entry.dn,
            user.id_attribute,
        )
        raise ProviderUnavailable(provider_id, f"entry has no {user.id_attribute}") from None
