"""Health of the gateway's parts: each identity provider, the database, the state store.

:func:`provider_status` asks every provider at once (one thread each), so it takes as long as
the slowest provider's own timeout, never their sum. :class:`HealthMonitor` keeps the last
answer for a few seconds and refreshes it in the background, so probes and scrapes that come
every few seconds from every orchestrator never pile checks onto a slow directory.
:func:`readiness` is what ``/readyz`` answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from sqlalchemy import text

from gateway.storage.db import UNAVAILABLE_ERRORS, Database
from gateway.storage.state import StateStore, StoreUnavailable
from providers.base import HealthCheck, ProviderUnavailable


class ProviderLookup(Protocol):
    """Finds a configured provider by its id (the federation does)."""

    def provider(self, provider_id: str, /) -> object | None: ...


def provider_status(
    federation: ProviderLookup, configured: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Each configured provider (``configured``: its id and type, in configured order):
    ``id``, ``type``, ``healthy``, ``detail`` and ``checkedMs``."""
    with ThreadPoolExecutor(max_workers=max(1, len(configured))) as pool:
        checks = [pool.submit(_check, federation, provider_id, kind) for provider_id, kind in configured]
        return [check.result() for check in checks]


def _check(federation: ProviderLookup, provider_id: str, kind: str) -> dict[str, Any]:
    started = time.perf_counter()
    provider = federation.provider(provider_id)
    try:
        healthy, detail = _health(provider)
    except (ProviderUnavailable, *UNAVAILABLE_ERRORS) as error:
        healthy, detail = False, getattr(error, "reason", None) or f"{type(error).__name__}"
    except Exception as error:
        healthy, detail = False, f"health check failed: {type(error).__name__}"
    return {
        "id": provider_id,
        "type": kind,
        "healthy": healthy,
        "detail": detail,
        "checkedMs": round((time.perf_counter() - started) * 1000),
    }


def _health(provider: object) -> tuple[bool, str]:
    if not isinstance(provider, HealthCheck):
        return False, "no health check"
    report = provider.check_health()
    return report.healthy, report.detail


class HealthMonitor:
    """The providers' last health answer, at most ``max_age`` seconds old when fresh checks
    can be had: a stale answer is returned at once while one background refresh runs. Only
    the very first call waits, and for at most ``first_wait`` seconds."""

    def __init__(
        self,
        check: Callable[[], list[dict[str, Any]]],
        *,
        max_age: float = 10.0,
        first_wait: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._check = check
        self._max_age = max_age
        self._first_wait = first_wait
        self._clock = clock
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._answer: list[dict[str, Any]] | None = None
        self._checked_at = float("-inf")
        self._refreshing = False

    def providers(self) -> list[dict[str, Any]]:
        """The latest answer; an empty list if the first check has not finished in time."""
        with self._lock:
            stale = self._clock() - self._checked_at >= self._max_age
            if stale and not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._refresh, name="health-check", daemon=True).start()
        if self._answer is None:
            self._done.wait(self._first_wait)
        return self._answer or []

    def _refresh(self) -> None:
        try:
            answer = self._check()
        except Exception as error:
            answer = [
                {"id": "?", "type": "?", "healthy": False, "detail": type(error).__name__, "checkedMs": 0}
            ]
        with self._lock:
            self._answer, self._checked_at, self._refreshing = answer, self._clock(), False
        self._done.set()


def database_check(database: Database) -> dict[str, Any]:
    """``ok`` and ``ms`` of one ``SELECT 1`` (bounded by the database's connect and statement
    timeouts)."""
    started = time.perf_counter()
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        ok = True
    except UNAVAILABLE_ERRORS:
        ok = False
    return {"ok": ok, "ms": round((time.perf_counter() - started) * 1000)}


def store_check(shared_store: StateStore | None) -> dict[str, Any] | None:
    """``ok`` and ``ms`` of a ping to the store shared by replicas (Redis); None without one."""
    if shared_store is None:
        return None
    started = time.perf_counter()
    try:
        shared_store.ping()
        ok = True
    except StoreUnavailable:
        ok = False
    return {"ok": ok, "ms": round((time.perf_counter() - started) * 1000)}


# A pending Registry write older than this makes /readyz say "degraded".
OUTBOX_STALE_SECONDS = 300


class RegistryLinkState(Protocol):
    """What /readyz reads of the Registry link (gateway.registry.link.RegistryLink)."""

    @property
    def enabled(self) -> bool: ...

    def health(self) -> Any: ...

    def outbox(self) -> Any: ...


def registry_check(link: RegistryLinkState | None) -> dict[str, Any] | None:
    """The Registry link for ``/readyz``: ``ok`` (the Registry answers the service account
    and no write is stuck), ``pending`` and ``failed`` writes; None without a ``registry:``
    section. Never raises; reasons stay out (the admin API's ``/registry`` has them)."""
    if link is None or not link.enabled:
        return None
    health = link.health()
    try:
        outbox = link.outbox()
    except UNAVAILABLE_ERRORS:
        return {"ok": False, "pending": None, "failed": None}
    stale = (outbox.oldest_pending_age_seconds or 0) > OUTBOX_STALE_SECONDS
    return {
        "ok": health is not None and health.ok and not stale and not outbox.failed,
        "pending": outbox.pending,
        "failed": outbox.failed,
    }


def readiness(
    database: Database,
    shared_store: StateStore | None,
    monitor: HealthMonitor,
    registry: RegistryLinkState | None = None,
) -> tuple[int, dict[str, Any]]:
    """``(status code, body)`` for ``/readyz``.

    Ready (200) needs the database and at least one serving provider. Redis being down, or
    some providers being down while another serves, is ``degraded`` but still 200: Redis is
    shared by every replica, so failing readiness for it would take all of them out of the
    load balancer at once, while password and token logins still work without it (see the
    README's "Scale out"). Provider details stay out of this unauthenticated answer; the
    admin API's provider page has them. The Registry link (when configured) is never a
    reason to fail: a Registry that is down, or writes that wait, are ``degraded``.
    """
    database_state = database_check(database)
    store = store_check(shared_store)
    providers = [{"id": p["id"], "type": p["type"], "healthy": p["healthy"]} for p in monitor.providers()]
    serving = any(p["healthy"] for p in providers)
    body: dict[str, Any] = {"database": database_state}
    if store is not None:
        body["redis"] = store
    body["providers"] = providers
    registry_state = registry_check(registry) if database_state["ok"] else None
    if registry_state is not None:
        body["registry"] = registry_state
    if not database_state["ok"] or not serving:
        return 503, {"status": "unavailable", **body}
    degraded = (store is not None and not store["ok"]) or not all(p["healthy"] for p in providers)
    degraded = degraded or (registry_state is not None and not registry_state["ok"])
    return 200, {"status": "degraded" if degraded else "ready", **body}
