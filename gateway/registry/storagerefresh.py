"""Storage usage from the Registry, refreshed periodically into ``registry_storage``.

One ``GET /users/detailed`` per run gives every user's bytes used and quota; the figures
replace the stored ones in one transaction. A background thread in each serving process runs
it every ``interval`` seconds, and a database lease makes sure only one replica reads the
Registry per interval. Never called on the login path: the admin pages and the quota-shrink
check read the stored figures (:func:`gateway.storage.registrystate.storage_by_user`).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import delete

from gateway.observe.periodic import PeriodicFlush
from gateway.registry.client import RegistryClient
from gateway.storage.db import Database
from gateway.storage.leases import take_lease
from gateway.storage.registrystate import RegistryStorage

log = logging.getLogger(__name__)

LEASE = "registry-storage-refresh"


class StorageRefresh:
    """Copies the Registry's storage figures into the gateway's database."""

    def __init__(
        self,
        client: RegistryClient,
        database: Database,
        interval: float = 300.0,
        *,
        clock: Callable[[], datetime] | None = None,
    ):
        self._client = client
        self._database = database
        self._interval = interval
        self._clock = clock or (lambda: datetime.now(UTC))
        self._holder = f"{socket.gethostname()[:50]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._thread = PeriodicFlush(self._run_quietly, interval, "registry-storage", at_exit=False)

    def run_once(self) -> int | None:
        """Refresh now if this process wins the lease for this interval: the number of users
        stored, or None when another process (or an earlier run here) already refreshed in
        this interval. Raises the client's errors when the Registry cannot be read."""
        now = self._clock()
        # Slightly shorter than the interval, so this process's next tick finds it free.
        if not take_lease(self._database, LEASE, self._holder, self._interval * 0.9, now):
            return None
        users = self._client.users_detailed()
        with self._database.session() as session:
            session.execute(delete(RegistryStorage))
            for user in users:
                if user.username:
                    session.merge(
                        RegistryStorage(
                            username=user.username,
                            used_bytes=user.storage_used,
                            quota_bytes=user.storage_quota,
                            fetched_at=now,
                        )
                    )
        return len(users)

    def start(self) -> None:
        """Run every interval on a daemon thread of this process (once per process)."""
        self._thread.ensure_running()

    def stop(self) -> None:
        self._thread.stop()

    def _run_quietly(self) -> None:
        try:
            self.run_once()
        except Exception as error:
            log.warning("Could not read storage usage from the Registry: %s", error)
