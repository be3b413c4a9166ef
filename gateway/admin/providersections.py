"""A provider's settings section as the database keeps it and admins see it: secrets masked
(``"(set)"``), kept across a change that leaves them out, but never across a change of where
they are sent; and the error that names every invalid field.

Which fields are secrets, and which decide where they go, is each type's declaration
(``ProviderType.secret_fields`` and ``secret_destination_fields``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.admin.errors import AdminError
from gateway.storage.providertable import StoredProvider
from providers.catalog import CATALOG, parse_section
from providers.schema import ConfigError

SET = "(set)"


class ProviderInvalid(AdminError):
    """Settings that fail validation: ``errors`` maps each field (``settings.user.base``) to
    its message; the first is the error's own."""

    def __init__(self, errors: Mapping[str, str]):
        field, message = next(iter(errors.items()))
        super().__init__(400, f"{field}: {message}", field)
        self.errors = dict(errors)


def masked(kind: str, section: Mapping[str, Any]) -> dict[str, Any]:
    """``section`` with each secret field that is set replaced by ``"(set)"``."""
    result = plain(section)
    provider_type = CATALOG.get(kind)
    for dotted in provider_type.secret_fields if provider_type else ():
        *parents, last = dotted.split(".")
        node: Any = result
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(last) is not None:
            node[last] = SET
    return result


def keep_secrets(row: StoredProvider, settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` with the stored secrets of ``row`` put back where the new settings leave
    them out or send ``"(set)"``, as long as their section is still there; ``null`` removes.

    A stored secret is put back only while the keys that decide where it is sent (the type's
    ``secret_destination_fields``: LDAP servers and TLS, an OIDC issuer ...) are unchanged;
    otherwise ProviderInvalid names each such secret, to be entered again, so a secret is never
    sent to an address it was not entered for (by a save or by a check of the unsaved form)."""
    section = plain(settings)
    stored = plain(row.section)
    kept: list[str] = []
    for dotted in CATALOG[row.type].secret_fields:
        *parents, last = dotted.split(".")
        node: Any = section
        old: Any = stored
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
            old = old.get(key) if isinstance(old, dict) else None
        if not isinstance(node, dict):
            continue
        value = node.get(last, SET)
        if value is None:
            node.pop(last, None)
        elif value == SET:
            if isinstance(old, dict) and old.get(last) is not None:
                node[last] = old[last]
                kept.append(dotted)
            else:
                node.pop(last, None)
    moved = _moved_destinations(row.type, stored, section) if kept else []
    if moved:
        why = (
            f"enter it again: {' and '.join(moved)} changed, and a stored secret is never sent "
            "to a new address"
        )
        raise ProviderInvalid({f"settings.{dotted}": why for dotted in kept})
    return section


def _moved_destinations(kind: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The keys of ``kind``'s ``secret_destination_fields`` whose values differ between two
    sections, compared as the schema reads them (so writing out a default is no change); as
    written when either section does not validate."""
    fields = CATALOG[kind].secret_destination_fields
    old, new = _as_read(kind, before), _as_read(kind, after)
    if old is None or new is None:
        old, new = dict(before), dict(after)
    return [dotted for dotted in fields if _at(old, dotted) != _at(new, dotted)]


def _as_read(kind: str, section: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        _, options = parse_section({**section, "id": "check", "type": kind}, "settings", "settings")
    except ConfigError:
        return None
    return plain(options)


def _at(section: Mapping[str, Any], dotted: str) -> Any:
    node: Any = section
    for key in dotted.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


def without_placeholders(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A new provider's settings: a ``"(set)"`` or ``null`` secret means none."""
    section = plain(settings)

    def scrub(node: Any) -> None:
        if isinstance(node, dict):
            for key in [k for k, v in node.items() if v == SET]:
                node.pop(key)
            for value in node.values():
                scrub(value)

    scrub(section)
    return section


def plain(value: Any) -> Any:
    """A deep copy as plain JSON types (tuples become lists)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
