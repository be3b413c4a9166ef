"""The Identity of a directory entry whose login succeeded: pure, no I/O.

The username is the entry's own spelling (canonical), the subject its ``user.id_attribute``
(never the DN), groups as resolved, and the quota attribute, if configured, an override.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from providers.base import Identity, ProviderUnavailable
from providers.ldap.entries import Entry
from providers.ldap.groups import Group, group_names
from providers.ldap.settings import UserSettings

log = logging.getLogger(__name__)


def identity_from_entry(
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
    spellings = [canonical(value) or "" for value in entry.values(user.username_attribute)]
    username = typed if typed in spellings else (spellings[0] if spellings else "")
    subject = entry.first(user.id_attribute)
    if not subject:
        # Not the DN instead: a user deleted and re-created under the same DN would inherit
        # the old account. The operator must fix the attribute or the read permissions.
        log.error(
            "ldap %s: entry %s has no readable %s (user.id_attribute)",
            provider_id,
            entry.dn,
            user.id_attribute,
        )
        raise ProviderUnavailable(provider_id, f"entry has no {user.id_attribute}")
    attributes: dict[str, object] = {}
    for exposed, ldap_name in user.attributes.items():
        values = entry.values(ldap_name)
        if values:
            attributes[exposed] = values[0] if len(values) == 1 else values
    overrides: dict[str, object] = {}
    if user.quota_attribute:
        quota = _quota(entry.first(user.quota_attribute))
        if quota is not None:
            overrides["maxStorageMB"] = quota
        elif entry.first(user.quota_attribute) is not None:
            log.warning(
                "ldap %s: %s of %s is not a non-negative integer; ignored",
                provider_id,
                user.quota_attribute,
                entry.dn,
            )
    return Identity(
        provider=provider_id,
        subject=subject,
        username=username,
        email=entry.first(user.email_attribute),
        display_name=entry.first(user.display_name_attribute),
        groups=group_names(groups),
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
