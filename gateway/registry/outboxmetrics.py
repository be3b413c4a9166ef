"""Prometheus metrics of the Registry outbox, in the style of :mod:`gateway.observe.metrics`.

Counters are written by the deliverer of each process (multiprocess mode adds them up);
the gauges describe the shared table and are computed at scrape time by
:class:`OutboxCollector`, never stored per worker. Labels are the write kinds only.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily

from gateway.registry.outbox import OutboxStatus
from gateway.registry.results import RegistryHealth

DELIVERED = Counter(
    "gateway_registry_outbox_delivered", "Registry writes the Registry accepted, by kind.", ["kind"]
)
RETRIED = Counter(
    "gateway_registry_outbox_retries",
    "Registry writes that failed for a passing reason and will be tried again, by kind.",
    ["kind"],
)
FAILED = Counter(
    "gateway_registry_outbox_failed", "Registry writes the Registry refused for good, by kind.", ["kind"]
)
DROPPED = Counter(
    "gateway_registry_outbox_dropped",
    "Registry writes dropped because the Registry does not know the user, by kind.",
    ["kind"],
)


class OutboxCollector:
    """Gauges read at scrape time from :func:`gateway.registry.outbox.status` (passed in as
    ``read_status``); a database that cannot answer yields no samples rather than failing the
    scrape. With ``read_health`` (the link's cached Registry health, which never waits on the
    Registry but for the very first check), ``gateway_registry_up`` is 1 while the Registry
    answers the service account and 0 otherwise."""

    def __init__(
        self,
        read_status: Callable[[], OutboxStatus],
        read_health: Callable[[], RegistryHealth | None] | None = None,
    ):
        self._read_status = read_status
        self._read_health = read_health

    def collect(self):
        health = self._read_health() if self._read_health is not None else None
        if health is not None:
            yield GaugeMetricFamily(
                "gateway_registry_up",
                "1 while the Registry answers the gateway's service account, else 0.",
                value=1.0 if health.ok else 0.0,
            )
        try:
            status = self._read_status()
        except Exception:
            return
        by_state = GaugeMetricFamily(
            "gateway_registry_outbox_rows", "Registry writes in the outbox, by state.", labels=["state"]
        )
        by_state.add_metric(["pending"], status.pending)
        by_state.add_metric(["retrying"], status.retrying)
        by_state.add_metric(["failed"], status.failed)
        by_state.add_metric(["dropped"], status.dropped)
        yield by_state
        yield GaugeMetricFamily(
            "gateway_registry_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending Registry write (0 when none is pending).",
            value=status.oldest_pending_age_seconds or 0.0,
        )
