"""Organization grants of mapping rules: which Registry organizations a user belongs to, and how.

A rule's ``organizations:`` is a list whose items are a slug (``pilots``, read-write) or a
mapping ``{slug: pilots, permissions: read-only}``. The permission names are the Registry's
levels (registry-contract.md §2.6): ``read-only`` 0, ``read-write`` 1 (the default),
``read-write-delete`` 2, ``admin`` 3. Slugs follow the Registry's own rule (``IsValidSlug``):
1-128 of lower-case letters, digits, ``_`` and ``-``.

Organizations are not part of the login answer (the Registry would store them as metadata);
the gateway pushes them to the Registry's admin API separately.

Pure Python: no I/O, no clock, no logging.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

PERMISSION_LEVELS: Final[Mapping[str, int]] = MappingProxyType(
    {"read-only": 0, "read-write": 1, "read-write-delete": 2, "admin": 3}
)
"""The Registry's organization permission levels, by the name a policy uses."""

DEFAULT_PERMISSIONS: Final = "read-write"

_SLUG = re.compile(r"[a-z0-9_-]{1,128}")
_SLUG_MSG = "must be an organization slug: 1-128 of lower-case letters, digits, _ and -"
_PERMISSIONS_MSG = f"must be one of {', '.join(PERMISSION_LEVELS)}"
_ITEM_KEYS = ("slug", "permissions")


def is_organization_slug(value: Any) -> bool:
    """True if ``value`` is a slug the Registry accepts (``[a-z0-9_-]{1,128}``)."""
    return isinstance(value, str) and _SLUG.fullmatch(value) is not None


def permission_name(level: int) -> str:
    """The policy's name for a Registry level (``1`` → ``read-write``); unknown levels as digits."""
    for name, known in PERMISSION_LEVELS.items():
        if known == level:
            return name
    return str(level)


@dataclass(frozen=True)
class OrganizationGrant:
    """One organization a rule grants: its slug and the Registry level (0-3)."""

    slug: str
    level: int

    def describe(self) -> str:
        """``pilots (read-write)``."""
        return f"{self.slug} ({permission_name(self.level)})"


def parse_organizations(
    value: Any, key: str, fail: Callable[[str, str], Exception]
) -> tuple[OrganizationGrant, ...]:
    """Validate a rule's ``organizations:`` list; ``fail(key_path, message)`` builds the error
    raised for the first bad item. A slug named twice in one rule keeps its highest level."""
    if not isinstance(value, (list, tuple)):
        raise fail(key, "must be a list of organization slugs or {slug, permissions} mappings")
    grants: list[OrganizationGrant] = []
    for i, item in enumerate(value):
        path = f"{key}[{i}]"
        if isinstance(item, Mapping):
            grants.append(_parse_item(item, path, fail))
        elif is_organization_slug(item):
            grants.append(OrganizationGrant(item, PERMISSION_LEVELS[DEFAULT_PERMISSIONS]))
        else:
            raise fail(path, _SLUG_MSG)
    return tuple(OrganizationGrant(slug, level) for slug, level in merge_organizations(grants).items())


def _parse_item(
    item: Mapping[Any, Any], path: str, fail: Callable[[str, str], Exception]
) -> OrganizationGrant:
    for k in item:
        if k not in _ITEM_KEYS:
            raise fail(f"{path}.{k}", f"unknown key; allowed: {', '.join(_ITEM_KEYS)}")
    if "slug" not in item:
        raise fail(f"{path}.slug", "is required")
    slug = item["slug"]
    if not is_organization_slug(slug):
        raise fail(f"{path}.slug", _SLUG_MSG)
    permissions = item.get("permissions", DEFAULT_PERMISSIONS)
    if not isinstance(permissions, str) or permissions not in PERMISSION_LEVELS:
        raise fail(f"{path}.permissions", _PERMISSIONS_MSG)
    return OrganizationGrant(slug, PERMISSION_LEVELS[permissions])


def merge_organizations(grants: Iterable[OrganizationGrant]) -> dict[str, int]:
    """Slug → level over ``grants``, in first-seen order; a slug granted twice keeps its
    highest level."""
    merged: dict[str, int] = {}
    for grant in grants:
        merged[grant.slug] = max(grant.level, merged.get(grant.slug, grant.level))
    return merged


def describe_organizations(organizations: Mapping[str, int]) -> str:
    """``pilots (read-write), survey (admin)``, or ``(none)``."""
    if not organizations:
        return "(none)"
    return ", ".join(OrganizationGrant(slug, level).describe() for slug, level in organizations.items())
