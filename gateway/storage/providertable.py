"""Identity providers kept in the database (``provider_source: database``).

* ``configured_providers``: one row per provider an admin added: its id, type, position in the
  order a password sign-in asks them, whether it is enabled, its section as written (without
  ``id``, ``type`` and its secret fields) and its secret fields as one encrypted JSON object.
* ``provider_set``: one row whose ``version`` goes up with every change to the table, in the
  same transaction, so every worker and replica notices a change with one tiny query.

This module stores and encrypts; it does not validate (the admin service does, with the
provider type's own schema) and it does not build providers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, Boolean, Integer, LargeBinary, String, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from gateway.storage.db import Database
from providers.sql import Base, UTCDateTime, utcnow

SET_ROW_ID = 1


class Cipher(Protocol):
    """Authenticated encryption at rest (the signing keys' :class:`gateway.tokens.KeyCipher`)."""

    def encrypt(self, plaintext: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes) -> bytes: ...


class ConfiguredProvider(Base):
    """A provider added in the admin UI or API."""

    __tablename__ = "configured_providers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # The section as the admin wrote it, without id, type and the secret fields.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    # The secret fields ({"bind.password": "..."}) as encrypted JSON; NULL when there are none.
    secrets: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(127))


class ProviderSetVersion(Base):
    """The version of the whole ``configured_providers`` table (one row)."""

    __tablename__ = "provider_set"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)


@dataclass(frozen=True)
class StoredProvider:
    """One stored provider with its secrets decrypted: ``section`` is the full section as
    written (secret fields put back, without ``id`` and ``type``); ``secret_keys`` the secret
    fields that are set; ``secrets_unreadable`` when they did not decrypt with this key."""

    id: str
    type: str
    position: int
    enabled: bool
    section: Mapping[str, Any]
    secret_keys: frozenset[str] = frozenset()
    updated_at: datetime | None = None
    updated_by: str | None = None
    created_at: datetime | None = field(default=None, compare=False)
    # Its secrets did not decrypt (GATEWAY_KEY_ENCRYPTION_KEY changed): kept out of service
    # until an admin enters them again.
    secrets_unreadable: bool = False


_VERSION = select(ProviderSetVersion.version).where(ProviderSetVersion.id == SET_ROW_ID)


class ProviderTable:
    """Reads and writes ``configured_providers``; every write bumps ``provider_set.version``."""

    def __init__(self, database: Database, cipher: Cipher):
        self._db = database
        self._cipher = cipher

    def version(self) -> int:
        """The table's version (0 before the first change). One indexed read."""
        with self._db.engine.connect() as connection:
            return connection.execute(_VERSION).scalar() or 0

    def all(self) -> tuple[int, list[StoredProvider]]:
        """``(version, providers in order)``, read in one transaction."""
        with self._db.session() as session:
            version = session.execute(_VERSION).scalar() or 0
            rows = session.scalars(
                select(ConfiguredProvider).order_by(ConfiguredProvider.position, ConfiguredProvider.id)
            ).all()
            return version, [self._stored(row) for row in rows]

    def get(self, provider_id: str) -> StoredProvider | None:
        with self._db.session() as session:
            row = session.get(ConfiguredProvider, provider_id)
            return self._stored(row) if row is not None else None

    def insert(
        self,
        provider_id: str,
        kind: str,
        section: Mapping[str, Any],
        secret_fields: Sequence[str],
        *,
        enabled: bool,
        by: str,
        position: int | None = None,
    ) -> None:
        """Add a provider at ``position`` (None: last). KeyError when the id is taken."""
        settings, secrets = split_secrets(section, secret_fields)
        try:
            with self._db.session() as session:
                rows = self._ordered(session)
                if any(row.id == provider_id for row in rows):
                    raise KeyError(provider_id)
                now = utcnow()
                row = ConfiguredProvider(
                    id=provider_id,
                    type=kind,
                    position=len(rows),
                    enabled=enabled,
                    settings=settings,
                    secrets=self._seal(secrets),
                    created_at=now,
                    updated_at=now,
                    updated_by=by,
                )
                session.add(row)
                rows.insert(len(rows) if position is None else max(0, min(position, len(rows))), row)
                _renumber(rows)
                _bump(session)
        except IntegrityError:
            raise KeyError(provider_id) from None

    def update(
        self,
        provider_id: str,
        section: Mapping[str, Any],
        secret_fields: Sequence[str],
        *,
        enabled: bool,
        by: str,
    ) -> None:
        """Replace a provider's section (secret fields included: the caller has merged in the
        stored ones it keeps) and enabled flag. KeyError when there is no such provider."""
        settings, secrets = split_secrets(section, secret_fields)
        with self._db.session() as session:
            row = session.get(ConfiguredProvider, provider_id)
            if row is None:
                raise KeyError(provider_id)
            row.settings, row.secrets, row.enabled = settings, self._seal(secrets), enabled
            row.updated_at, row.updated_by = utcnow(), by
            _bump(session)

    def set_enabled(self, provider_id: str, enabled: bool, *, by: str) -> None:
        with self._db.session() as session:
            row = session.get(ConfiguredProvider, provider_id)
            if row is None:
                raise KeyError(provider_id)
            row.enabled, row.updated_at, row.updated_by = enabled, utcnow(), by
            _bump(session)

    def move(self, provider_id: str, position: int, *, by: str) -> None:
        """Put the provider at index ``position`` of the order (clamped to the list)."""
        with self._db.session() as session:
            rows = self._ordered(session)
            row = next((r for r in rows if r.id == provider_id), None)
            if row is None:
                raise KeyError(provider_id)
            rows.remove(row)
            rows.insert(max(0, min(position, len(rows))), row)
            _renumber(rows)
            row.updated_at, row.updated_by = utcnow(), by
            _bump(session)

    def delete(self, provider_id: str) -> None:
        with self._db.session() as session:
            rows = self._ordered(session)
            row = next((r for r in rows if r.id == provider_id), None)
            if row is None:
                raise KeyError(provider_id)
            session.delete(row)
            rows.remove(row)
            _renumber(rows)
            _bump(session)

    # -- internals -----------------------------------------------------------------------------

    def _ordered(self, session: Session) -> list[ConfiguredProvider]:
        return list(
            session.scalars(
                select(ConfiguredProvider).order_by(ConfiguredProvider.position, ConfiguredProvider.id)
            )
        )

    def _seal(self, secrets: Mapping[str, Any]) -> bytes | None:
        if not secrets:
            return None
        return self._cipher.encrypt(json.dumps(dict(secrets), sort_keys=True).encode("utf-8"))

    def _stored(self, row: ConfiguredProvider) -> StoredProvider:
        unreadable = False
        try:
            secrets = json.loads(self._cipher.decrypt(row.secrets)) if row.secrets is not None else {}
        except Exception:  # another GATEWAY_KEY_ENCRYPTION_KEY: shown without them, to re-enter
            secrets, unreadable = {}, True
        return StoredProvider(
            id=row.id,
            type=row.type,
            position=row.position,
            enabled=row.enabled,
            section=join_secrets(row.settings, secrets),
            secret_keys=frozenset(secrets),
            updated_at=row.updated_at,
            updated_by=row.updated_by,
            created_at=row.created_at,
            secrets_unreadable=unreadable,
        )


def stored_provider_ids(database: Database) -> list[str]:
    """The ids of the providers kept in the database, in order, whatever the provider source;
    empty when the table is not there yet or the database cannot be read (a best-effort look,
    for warnings)."""
    query = select(ConfiguredProvider.id).order_by(ConfiguredProvider.position, ConfiguredProvider.id)
    try:
        with database.engine.connect() as connection:
            return list(connection.execute(query).scalars())
    except DBAPIError:
        return []


def split_secrets(
    section: Mapping[str, Any], secret_fields: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(section without its secret fields, {dotted key: value} of the ones set)``."""
    settings = json.loads(json.dumps(dict(section)))  # a deep copy of plain JSON
    secrets: dict[str, Any] = {}
    for dotted in secret_fields:
        *parents, last = dotted.split(".")
        node = settings
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and last in node:
            value = node.pop(last)
            if value is not None:
                secrets[dotted] = value
    return settings, secrets


def join_secrets(settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> dict[str, Any]:
    """The section with its secret fields (``{dotted key: value}``) put back."""
    section = json.loads(json.dumps(dict(settings)))
    for dotted, value in secrets.items():
        *parents, last = dotted.split(".")
        node = section
        for key in parents:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[last] = value
    return section


def _renumber(rows: list[ConfiguredProvider]) -> None:
    for index, row in enumerate(rows):
        row.position = index


def _bump(session: Session) -> None:
    """Raise the table's version in the caller's transaction (creating the row the first time)."""
    result = session.execute(
        update(ProviderSetVersion)
        .where(ProviderSetVersion.id == SET_ROW_ID)
        .values(version=ProviderSetVersion.version + 1)
    )
    if getattr(result, "rowcount", 0) != 1:
        session.add(ProviderSetVersion(id=SET_ROW_ID, version=1))
