"""The providers in force: the config file's, then (``provider_source: database``) the enabled
ones admins keep in the database, rebuilt when that table changes.

Every process checks the table's version at most once per ``refresh_seconds`` (one tiny query,
from :meth:`LiveProviders.refresh`, which the web app calls before each request and the
directory sync before each run), so a change
saved on any worker or replica is in force everywhere within that time, without a restart. A
provider whose stored section is unchanged is kept as built (its connection pools and caches
stay); one that changed or went away is closed once nothing hands it out any more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.storage.db import UNAVAILABLE_ERRORS
from gateway.storage.providertable import ProviderTable, StoredProvider
from providers.base import Closable
from providers.catalog import build_provider, parse_section
from providers.providertype import BuildContext
from providers.schema import ConfigError

log = logging.getLogger(__name__)

FILE, DATABASE = "file", "database"


@dataclass(frozen=True)
class ActiveProvider:
    """A provider in force: its id, type, validated options (without id and type), where it is
    configured (``file`` or ``database``) and the built provider."""

    id: str
    type: str
    options: Mapping[str, Any]
    origin: str
    provider: Any


Listener = Callable[[Sequence[Any]], None]


def validated(stored: StoredProvider) -> dict[str, Any]:
    """The validated options of a stored provider (without id and type); ConfigError naming
    the key when its section is not valid (only an edit outside the gateway can store one)."""
    kind, options = parse_section(
        {**stored.section, "id": stored.id, "type": stored.type}, "database", f"providers.{stored.id}"
    )
    options.pop("id")
    options.pop("type")
    return options


class LiveProviders:
    """The provider list every login uses, kept current with the database table."""

    def __init__(
        self,
        file_providers: Sequence[ActiveProvider],
        table: ProviderTable | None,
        context: BuildContext,
        *,
        refresh_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        """``table`` is None in ``file`` mode: the file's providers are then all there is."""
        self._file = list(file_providers)
        self._table = table
        self._context = context
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._active: list[ActiveProvider] = list(self._file)
        self._version: int | None = None if table is not None else 0
        self._checked_at = float("-inf")

    @property
    def editable(self) -> bool:
        return self._table is not None

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(providers)`` with the new provider list after every change."""
        self._listeners.append(listener)

    def active(self) -> list[ActiveProvider]:
        """The providers in force, in order (file ones first)."""
        return list(self._active)

    def refresh(self, *, force: bool = False) -> None:
        """Rebuild the provider set if the table changed since the last look; the look is made
        at most once per refresh interval (``force``: now). A database that cannot be read
        keeps the current set (logins go on with it)."""
        if self._table is None:
            return
        now = self._clock()
        if not force and now - self._checked_at < self._refresh_seconds:
            return
        with self._lock:
            if not force and now - self._checked_at < self._refresh_seconds:
                return
            self._checked_at = now
            try:
                if self._table.version() == self._version:
                    return
                version, stored = self._table.all()
            except Exception as error:
                if self._version is None:
                    # Before the migrations ran (a process building its parts first): the file's
                    # providers serve until the table is there.
                    log.debug("provider table not readable yet: %s", type(error).__name__)
                    return
                # A provider table that cannot be read (the database down, a key that no longer
                # decrypts) must not fail the logins the providers in force can answer.
                level = logging.WARNING if isinstance(error, UNAVAILABLE_ERRORS) else logging.ERROR
                reason = str(error).splitlines()[0][:300] if str(error) else type(error).__name__
                log.log(level, "cannot read the provider table (%s); the providers in force stay", reason)
                return
            self._apply(version, stored)

    def _apply(self, version: int, stored: list[StoredProvider]) -> None:
        previous = {p.id: p for p in self._active if p.origin == DATABASE}
        active = list(self._file)
        taken = {p.id for p in self._file}
        for row in stored:
            if not row.enabled or row.id in taken:
                continue
            if row.secrets_unreadable:
                log.error(
                    "stored provider %s is left out: its secrets do not decrypt with this "
                    "GATEWAY_KEY_ENCRYPTION_KEY; enter them again in the admin UI",
                    row.id,
                )
                continue
            try:
                options = validated(row)
            except ConfigError as error:
                log.error("stored provider %s is invalid and is left out: %s", row.id, error)
                continue
            old = previous.get(row.id)
            if old is not None and old.type == row.type and old.options == options:
                active.append(old)
                continue
            try:
                built = build_provider(row.type, row.id, options, self._context)
            except Exception:
                log.exception("stored provider %s could not be built and is left out", row.id)
                continue
            active.append(ActiveProvider(row.id, row.type, options, DATABASE, built.provider))
        self._active, self._version = active, version
        providers = [p.provider for p in active]
        for listener in self._listeners:
            listener(providers)
        kept = {id(p.provider) for p in active}
        for old in previous.values():
            if id(old.provider) not in kept and isinstance(old.provider, Closable):
                _close_later(old.provider)
        log.info("provider set version %s in force: %s", version, ", ".join(p.id for p in active))


def _close_later(provider: Closable, delay: float = 120.0) -> None:
    """Close a provider no longer in force once the logins that may still hold it are done
    (every login ends well within the Registry's 100 s)."""
    timer = threading.Timer(delay, provider.close)
    timer.daemon = True
    timer.start()
