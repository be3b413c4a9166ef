"""The gateway's link to the Registry, as one part the composition root builds: the admin API
client, the outbox's deliverer over it, and the :class:`RegistryPush` every change queues its
Registry writes through.

Without a ``registry:`` section the link is off: the push queues nothing, nothing runs, and
health and status say so. With one, :meth:`RegistryLink.start` runs the deliverer in the
serving process that calls it (each gunicorn worker; replicas share the rows through leases),
and :meth:`RegistryLink.flush` delivers at once what a short-lived process (a CLI command)
queued, so a ``gateway users disable`` takes effect without waiting for a server's poll.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections.abc import Callable
from typing import Any

from gateway.config.registry import RegistryConfig
from gateway.registry.client import RegistryClient
from gateway.registry.clientwriter import ClientWriter
from gateway.registry.organizations import OrganizationReconciler
from gateway.registry.outbox import OutboxStatus, register_waiter, status, unregister_waiter
from gateway.registry.outboxdelivery import Deliverer
from gateway.registry.push import RegistryPush
from gateway.registry.results import RegistryHealth
from gateway.registry.storagerefresh import StorageRefresh
from gateway.storage.db import Database

# /readyz and the admin pages ask often; the Registry is asked at most this often.
HEALTH_MAX_AGE_SECONDS = 15.0
FIRST_HEALTH_WAIT_SECONDS = 2.0


class RegistryLink:
    """See the module docstring. ``config`` None: switched off."""

    def __init__(
        self,
        config: RegistryConfig | None,
        database: Database,
        *,
        poll_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.config = config
        self._database = database
        self._clock = clock
        self._health_lock = threading.Lock()
        self._health: tuple[float, RegistryHealth] | None = None
        self._health_refreshing = False
        self._health_done = threading.Event()
        self._queued_here = threading.Event()
        self._stop_at_exit = False
        if config is None:
            self.client: RegistryClient | None = None
            self.deliverer: Deliverer | None = None
            self.storage: StorageRefresh | None = None
            self.push = RegistryPush()
            return
        self.client = RegistryClient(config.settings)
        organizations = OrganizationReconciler(
            self.client, database, create_missing=config.settings.create_missing_organizations
        )
        self.storage = StorageRefresh(self.client, database, config.settings.storage_refresh_seconds)
        self.deliverer = Deliverer(
            database,
            ClientWriter(
                self.client,
                organizations=lambda _client, username, payload: organizations.set_organizations(
                    username, payload
                ),
            ),
            lease_seconds=config.deliver_lease_seconds,
            batch_size=config.deliver_batch,
            poll_interval=poll_interval,
        )
        self.push = RegistryPush(enabled=True, delete_accounts=config.delete_accounts)
        register_waiter(self._queued_here)  # set when this process commits a Registry write

    @property
    def enabled(self) -> bool:
        return self.config is not None

    def start(self) -> None:
        """Deliver in the background of this process from now on (idempotent, fork-aware)."""
        if self.deliverer is not None:
            self.deliverer.start()
            if self.storage is not None:
                self.storage.start()  # storage usage for the admin pages, never on a login
            if not self._stop_at_exit:
                self._stop_at_exit = True
                atexit.register(self.stop)

    def flush(self) -> None:
        """If this process queued Registry writes, try to deliver what is due now (bounded by
        the client's timeouts; what fails stays queued for the servers). Never raises."""
        if self.deliverer is None or not self._queued_here.is_set():
            return
        self._queued_here.clear()
        try:
            self.deliverer.run_once()
        except Exception:  # the servers' deliverers will pick the rows up
            pass

    def leave_to_servers(self) -> None:
        """Leave the writes this process queued so far to the serving processes' deliverers
        (not to :meth:`flush`): start-up's writes, queued before this gateway listens, when
        the Registry may still need it to let the service account in."""
        self._queued_here.clear()

    def wake(self) -> None:
        """Deliver what was just queued without waiting for the next poll."""
        if self.deliverer is not None:
            self.deliverer.wake()

    def stop(self) -> None:
        unregister_waiter(self._queued_here)
        if self.storage is not None:
            self.storage.stop()
        if self.deliverer is not None:
            self.deliverer.stop()
        if self.client is not None:
            self.client.close()

    def health(self) -> RegistryHealth | None:
        """The Registry's health (None when switched off). The Registry is asked at most every
        HEALTH_MAX_AGE_SECONDS seconds, on a background thread: a stale answer is returned at
        once, and only the very first call waits (at most FIRST_HEALTH_WAIT_SECONDS)."""
        if self.client is None:
            return None
        with self._health_lock:
            checked = self._health
            stale = checked is None or self._clock() - checked[0] >= HEALTH_MAX_AGE_SECONDS
            if stale and not self._health_refreshing:
                self._health_refreshing = True
                threading.Thread(target=self._refresh_health, name="registry-health", daemon=True).start()
        if checked is None:
            self._health_done.wait(FIRST_HEALTH_WAIT_SECONDS)
            with self._health_lock:
                checked = self._health
        if checked is None:
            return RegistryHealth("degraded", "the Registry has not answered yet")
        return checked[1]

    def _refresh_health(self) -> None:
        assert self.client is not None
        health = self.client.health()  # never raises
        with self._health_lock:
            self._health = (self._clock(), health)
            self._health_refreshing = False
        self._health_done.set()

    def outbox(self) -> OutboxStatus:
        """The outbox now (see :func:`gateway.registry.outbox.status`)."""
        with self._database.session() as session:
            return status(session)

    def report(self) -> dict[str, Any]:
        """What the admin API and UI show: ``enabled``, the Registry's URL and health, and the
        outbox (pending, retrying, failed with the Registry's error, age of the oldest)."""
        if self.config is None:
            return {"enabled": False, "url": None, "health": None, "outbox": None}
        health = self.health()
        return {
            "enabled": True,
            "url": self.config.settings.url,
            "serviceAccount": self.config.settings.username,
            "onDelete": self.config.on_delete,
            "health": {"status": health.status, "reason": health.reason} if health else None,
            "outbox": self.outbox().as_dict(),
        }
