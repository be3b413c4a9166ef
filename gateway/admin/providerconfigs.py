"""Identity providers managed in the database (``provider_source: database``): list, add,
change, order, enable and remove providers of the types that declare a guided form (LDAP/AD and
OIDC today), whatever the client (API, UI).

What an admin can rely on:

* in ``file`` mode everything here but reading is refused (409): the config file is the truth;
* a provider's settings are checked by the same schema as a ``providers:`` entry of the YAML
  (``providers/<type>/config.py``), every problem at once, each naming its field
  (``settings.user.base``); across providers, no two take the same IdP tokens, and an OIDC
  provider for browser sign-in needs browser sign-on (``sso:``) configured;
* secret fields (each type declares them: a bind password, a client secret) are stored
  encrypted and never shown back: answers say ``"(set)"``; a change that leaves a secret out
  (or sends ``"(set)"``) keeps the stored one, ``null`` removes it, unless the change moves
  where the secret is sent (LDAP servers, an OIDC issuer: the type's
  ``secret_destination_fields``): then the secret must be sent again (400 naming it);
* every change is audited (``provider_added``, ``provider_changed``, ``provider_moved``,
  ``provider_enabled``, ``provider_disabled``, ``provider_removed``: actor, id, type; never a
  setting), and is in force on this worker at once and on every other worker and replica
  within the refresh interval, without a restart;
* the config file's providers (the local one by default) stay, first, read-only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gateway.admin.errors import AdminError
from gateway.admin.providersections import (
    SET,
    ProviderInvalid,
    keep_secrets,
    masked,
    plain,
    without_placeholders,
)
from gateway.admin.timefmt import iso
from gateway.login.providerset import LiveProviders, validated
from gateway.observe.audit import AuditLog
from gateway.storage.providertable import ProviderTable, StoredProvider
from providers.catalog import CATALOG, parse_section
from providers.schema import PROVIDER_ID, ConfigError

__all__ = ["SET", "ProviderConfigs", "ProviderInvalid", "editable_types", "keep_secrets", "masked"]

READ_ONLY_MESSAGE = (
    "the providers are managed by the config file (provider_source: file); to manage them "
    "here, set `provider_source: database` in the config and restart"
)
MAX_PROVIDERS = 32
# Path words of the admin API under /providers/ that no provider id may take.
RESERVED_IDS = frozenset({"configured"})


def editable_types() -> tuple[str, ...]:
    """The provider types an admin may keep here, in catalog order: those that declare a guided
    form (``ProviderType.admin_form``); the local type has none, it is the config file's."""
    return tuple(name for name, kind in CATALOG.items() if kind.admin_form is not None)


def ignored_providers_warning(ids: Sequence[str]) -> str | None:
    """What to tell an admin when the config file's providers are in force (``provider_source:
    file``) while the database keeps the providers ``ids`` (added in the admin UI or API):
    those are not used. None when there are none. Start-up, check-config and the admin
    Providers page say it in these words."""
    if not ids:
        return None
    count = f"{len(ids)} provider{'s' if len(ids) != 1 else ''}"
    return (
        f"provider_source is file (the config file lists its providers), so the {count} kept in "
        f"the database ({', '.join(ids)}), added in the admin UI or API, are not in force; set "
        "`provider_source: database` in the config file to use them after the file's providers"
    )


class ProviderConfigs:
    def __init__(
        self,
        *,
        table: ProviderTable | None,
        live: LiveProviders,
        file_providers: Sequence[tuple[str, str, Mapping[str, Any]]],
        browser_sign_on: bool,
        audit: AuditLog,
        stored_ids: Callable[[], list[str]] = list,
    ):
        self._table = table
        self._stored_ids = stored_ids
        self._live = live
        self._file = list(file_providers)
        self._browser_sign_on = browser_sign_on
        self._audit = audit

    @property
    def source(self) -> str:
        return "database" if self._table is not None else "file"

    @property
    def editable(self) -> bool:
        return self._table is not None

    # -- reading -------------------------------------------------------------------------------

    def ignored_warning(self) -> str | None:
        """In file mode, the warning that the database keeps providers that are not in force
        (:func:`ignored_providers_warning`); None in database mode or when it keeps none."""
        if self._table is not None:
            return None
        return ignored_providers_warning(self._stored_ids())

    def list(self) -> dict[str, Any]:
        """``{source, editable, providers: [...]}``: the file's providers first (read-only),
        then the database's in order; secrets shown as ``"(set)"``."""
        active = {p.id for p in self._live.active()}
        items = [
            {
                "id": provider_id,
                "type": kind,
                "origin": "file",
                "position": index,
                "enabled": True,
                "active": provider_id in active,
                "editable": False,
                "settings": masked(kind, plain(options)),
                "updatedAt": None,
                "updatedBy": None,
                "secretsUnreadable": False,
            }
            for index, (provider_id, kind, options) in enumerate(self._file)
        ]
        if self._table is not None:
            _, stored = self._table.all()
            items += [self._item(row, row.id in active) for row in stored]
        return {"source": self.source, "editable": self.editable, "providers": items}

    def get(self, provider_id: str) -> dict[str, Any]:
        """One provider as :meth:`list` shows it; 404 for an unknown id."""
        for item in self.list()["providers"]:
            if item["id"] == provider_id:
                return item
        raise AdminError(404, f"no provider {provider_id!r}")

    def stored_section(self, provider_id: str) -> tuple[str, dict[str, Any], frozenset[str]]:
        """``(type, section with secrets masked, secret fields set)`` of a database provider,
        for an edit form. 404 when there is none."""
        row = self._stored(provider_id)
        return row.type, masked(row.type, dict(row.section)), row.secret_keys

    # -- changing ------------------------------------------------------------------------------

    def create(
        self,
        actor: str,
        provider_id: Any,
        kind: Any,
        settings: Any,
        *,
        enabled: bool = True,
        position: int | None = None,
    ) -> dict[str, Any]:
        """Add a provider; return it. 400 (every problem, by field) for invalid input, 409 in
        file mode or for an id that is taken."""
        table = self._editable()
        errors: dict[str, str] = {}
        if not isinstance(provider_id, str) or not re.match(PROVIDER_ID, provider_id):
            errors["id"] = "must be 1-64 lower-case letters, digits, - or _, starting with a letter or digit"
        elif provider_id in RESERVED_IDS:
            errors["id"] = f"{provider_id!r} is reserved; choose another id"
        if kind not in editable_types():
            errors["type"] = f"must be one of {', '.join(editable_types())}"
        if not isinstance(settings, dict):
            errors["settings"] = "must be an object"
        if errors:
            raise ProviderInvalid(errors)
        if provider_id in {p[0] for p in self._file} or table.get(provider_id) is not None:
            raise AdminError(409, f"there is already a provider {provider_id!r}", "id")
        if len(table.all()[1]) >= MAX_PROVIDERS:
            raise AdminError(409, f"at most {MAX_PROVIDERS} providers can be kept in the database")
        section = without_placeholders(settings)
        self._check(provider_id, kind, section, enabled)
        try:
            table.insert(
                provider_id,
                kind,
                section,
                CATALOG[kind].secret_fields,
                enabled=enabled,
                by=actor,
                position=position,
            )
        except KeyError:
            raise AdminError(409, f"there is already a provider {provider_id!r}", "id") from None
        self._changed("provider_added", actor, provider_id, kind, enabled=enabled)
        return self.get(provider_id)

    def update(
        self, actor: str, provider_id: str, settings: Any, *, enabled: bool | None = None
    ) -> dict[str, Any]:
        """Replace a provider's settings (and, given, its enabled flag); secrets left out or
        sent as ``"(set)"`` are kept. 404 unknown, 409 file mode or a file provider, 400."""
        table = self._editable()
        row = self._stored(provider_id)
        if not isinstance(settings, dict):
            raise ProviderInvalid({"settings": "must be an object"})
        section = keep_secrets(row, settings)
        now_enabled = row.enabled if enabled is None else enabled
        self._check(provider_id, row.type, section, now_enabled)
        table.update(provider_id, section, CATALOG[row.type].secret_fields, enabled=now_enabled, by=actor)
        self._changed("provider_changed", actor, provider_id, row.type, enabled=now_enabled)
        return self.get(provider_id)

    def set_enabled(self, actor: str, provider_id: str, enabled: bool) -> dict[str, Any]:
        """Enable or disable a provider (a disabled one is kept but asked by no login)."""
        table = self._editable()
        row = self._stored(provider_id)
        if enabled and not row.enabled:
            self._check(provider_id, row.type, dict(row.section), True)
        table.set_enabled(provider_id, enabled, by=actor)
        self._changed("provider_enabled" if enabled else "provider_disabled", actor, provider_id, row.type)
        return self.get(provider_id)

    def move(self, actor: str, provider_id: str, position: Any) -> dict[str, Any]:
        """Put a provider at index ``position`` of the database's providers (0: first after the
        file's); 400 for a position that is not a whole number."""
        table = self._editable()
        row = self._stored(provider_id)
        if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < 1000:
            raise ProviderInvalid({"position": "must be a whole number from 0"})
        table.move(provider_id, position, by=actor)
        self._changed("provider_moved", actor, provider_id, row.type, position=position)
        return self.get(provider_id)

    def delete(self, actor: str, provider_id: str) -> None:
        """Remove a provider. Usernames it handed out stay owned by it (a provider added again
        with the same id gets them back)."""
        table = self._editable()
        row = self._stored(provider_id)
        table.delete(provider_id)
        self._changed("provider_removed", actor, provider_id, row.type)

    def check(self, provider_id: str, kind: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """The validated options of an unsaved provider (ProviderInvalid otherwise): what the
        diagnostics and previews work on."""
        return self._validate(provider_id, kind, settings)

    def merged_section(self, provider_id: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """``settings`` with a stored provider's secrets put back where left out or masked, by
        the rule a save follows (:func:`keep_secrets`: ProviderInvalid when an address
        changed); an unknown id: ``settings`` without placeholders."""
        row = self._table.get(provider_id) if self._table is not None else None
        return keep_secrets(row, settings) if row is not None else without_placeholders(settings)

    # -- internals -----------------------------------------------------------------------------

    def _editable(self) -> ProviderTable:
        if self._table is None:
            raise AdminError(409, READ_ONLY_MESSAGE)
        return self._table

    def _stored(self, provider_id: str) -> StoredProvider:
        if provider_id in {p[0] for p in self._file}:
            raise AdminError(
                409, f"provider {provider_id!r} is configured in the config file; change it there"
            )
        row = self._table.get(provider_id) if self._table is not None else None
        if row is None:
            raise AdminError(404, f"no provider {provider_id!r}")
        return row

    def _validate(self, provider_id: str, kind: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        item = {**settings, "id": provider_id, "type": kind}
        try:
            _, options = parse_section(item, "settings", "settings")
        except ConfigError as error:
            raise ProviderInvalid({e.key: e.message for e in error.errors}) from None
        options.pop("id")
        options.pop("type")
        return options

    def _check(self, provider_id: str, kind: str, section: Mapping[str, Any], enabled: bool) -> None:
        """Validate ``section``; when ``enabled``, also against the other providers in force."""
        options = self._validate(provider_id, kind, section)
        provider_type = CATALOG[kind]
        if enabled and provider_type.browser_login(options) and not self._browser_sign_on:
            raise ProviderInvalid(
                {
                    "settings.browser_login": "browser sign-in needs browser sign-on set up "
                    "(sso.registry_login_url in the config file); set browser_login: false "
                    "for the token path only"
                }
            )
        if not enabled:
            return
        mine = provider_type.token_routing(options)
        for other_id, other_type, other_options in self._others(provider_id):
            theirs = CATALOG[other_type].token_routing(other_options)
            if mine.jwt_issuer is not None and mine.jwt_issuer == theirs.jwt_issuer:
                raise ProviderInvalid(
                    {
                        _field(
                            mine.jwt_key
                        ): f"provider {other_id!r} already accepts tokens of {mine.jwt_issuer}"
                    }
                )
            if mine.introspects and theirs.introspects:
                raise ProviderInvalid(
                    {
                        _field(mine.introspection_key): "only one provider may introspect opaque "
                        f"tokens ({other_id!r} does)"
                    }
                )

    def _others(self, provider_id: str) -> Iterable[tuple[str, str, Mapping[str, Any]]]:
        yield from ((i, k, o) for i, k, o in self._file if i != provider_id)
        if self._table is None:
            return
        for row in self._table.all()[1]:
            if row.id == provider_id or not row.enabled:
                continue
            try:
                yield row.id, row.type, validated(row)
            except ConfigError:
                continue

    def _item(self, row: StoredProvider, active: bool) -> dict[str, Any]:
        return {
            "id": row.id,
            "type": row.type,
            "origin": "database",
            "position": row.position,
            "enabled": row.enabled,
            "active": active,
            "editable": True,
            "settings": masked(row.type, dict(row.section)),
            "updatedAt": iso(row.updated_at),
            "updatedBy": row.updated_by,
            "secretsUnreadable": row.secrets_unreadable,
        }

    def _changed(self, event: str, actor: str, provider_id: str, kind: str, **detail: Any) -> None:
        self._audit.record(event, "ok", provider=provider_id, actor=actor, type=kind, **detail)
        self._live.refresh(force=True)


def _field(key: str) -> str:
    return f"settings.{key}" if key else "settings"
