"""Prometheus metrics: what the gateway counts, and the ``/metrics`` exposition.

Under gunicorn every worker is its own process, so counters and histograms use
prometheus_client's multiprocess mode: each worker writes its values to memory-mapped files in
``PROMETHEUS_MULTIPROC_DIR`` (set up by :mod:`gateway.http.serving` before any worker starts), and a
scrape of any worker adds up all of them. Without that variable (the Flask test client, a
one-off script) the values live in this process's default registry.

Label values are bounded by construction: providers are the configured ids (anything else is
``unknown``), outcome classes and paths come from short fixed lists, and nothing about a user,
a token or a password is ever a label.

Gauges that describe the present (provider health, signing-key ages) are computed when scraped
by :class:`StateCollector`, never stored per worker.
"""

from __future__ import annotations

import bisect
import collections
import os
import threading
import time
from collections.abc import Callable, Iterable

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# prometheus_client switches to multiprocess mode when the variable merely exists; an empty
# value (a copied .env line) would write value files into the working directory.
if os.environ.get(MULTIPROC_ENV) == "":
    del os.environ[MULTIPROC_ENV]

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from gateway.observe.periodic import PeriodicFlush

# Seconds: a token check takes about a millisecond, an argon2 login a few tens, LDAP and an
# IdP round trip up to the configured time budget.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# The HTTP status of an attempt's answer, as the class an operator alerts on.
OUTCOME_CLASSES = {
    200: "success",
    302: "success",
    303: "success",
    400: "bad_request",
    413: "bad_request",
    415: "bad_request",
    401: "rejected",
    403: "forbidden",
    429: "throttled",
    503: "unavailable",
}
AUTH_PATHS = ("password", "token", "sso", "browser_password", "admin_token")
THROTTLE_EVENTS = ("refused", "failure_counted", "lockout_started", "store_unavailable")

LOGINS = Counter(
    "gateway_auth_attempts",
    "Authentication attempts by path, provider and outcome class.",
    ["path", "provider", "outcome"],
)
LATENCY = Histogram(
    "gateway_auth_duration_seconds",
    "Time to answer an authentication attempt.",
    ["path", "provider"],
    buckets=LATENCY_BUCKETS,
)
THROTTLE = Counter("gateway_throttle_events", "Per-account throttle events.", ["event"])
CREDENTIAL_CACHE = Counter(
    "gateway_credential_cache_events",
    "Verified-credentials cache of the password path: hit, miss, eviction, invalidation.",
    ["event"],
)
CREDENTIAL_CACHE_EVENTS = ("hit", "miss", "eviction", "invalidation")
TOKEN_CHECKS = Counter(
    "gateway_token_verifications",
    "Tokens presented on the token path, by kind and result.",
    ["kind", "result"],
)


def outcome_class(status: int) -> str:
    """The outcome class of an answer with HTTP ``status``."""
    return OUTCOME_CLASSES.get(status, "error" if status >= 500 else "other")


class _Batch:
    """Attempt and token counts, applied to the metrics every ``interval`` seconds.

    A request thread only appends a tuple to a queue; a background thread (started in the
    process that counts, never carried across a fork) adds up what came in and writes each
    counter once and each histogram bucket once per batch. On the token path this keeps the
    metric files' locks and writes (a few microseconds per value) off the request. A scrape
    applies the pending counts of the worker it reaches first; other workers' counts are at
    most ``interval`` behind.
    """

    def __init__(self, interval: float = 0.05):
        self._pending: collections.deque[tuple] = collections.deque()
        self._lock = threading.Lock()
        self._flusher = PeriodicFlush(self.flush, interval, "metrics")
        self._attempt_children: dict[tuple[str, str, str], tuple] = {}
        self._token_children: dict[tuple[str, str], object] = {}

    def add(self, item: tuple) -> None:
        self._pending.append(item)
        self._flusher.ensure_running()

    def flush(self) -> None:
        """Apply every pending count now."""
        with self._lock:
            attempts: dict[tuple[str, str, str], list[float]] = {}
            tokens: collections.Counter = collections.Counter()
            cache: collections.Counter = collections.Counter()
            try:
                while True:  # deque pops are atomic: nothing slips between
                    item = self._pending.popleft()
                    if item[0] == "token":
                        tokens[item[1]] += 1
                    elif item[0] == "cache":
                        cache[item[1]] += item[2]
                    else:
                        attempts.setdefault(item[1], []).append(item[2])
            except IndexError:
                pass
            for event, count in cache.items():
                CREDENTIAL_CACHE.labels(event).inc(count)
            for key, durations in attempts.items():
                counter, histogram = self._attempt_child(key)
                counter.inc(len(durations))
                _observe_all(histogram, durations)
            for key, count in tokens.items():
                self._token_child(key).inc(count)

    def _attempt_child(self, key: tuple[str, str, str]) -> tuple:
        children = self._attempt_children.get(key)
        if children is None:
            children = (LOGINS.labels(*key), LATENCY.labels(key[0], key[1]))
            self._attempt_children[key] = children
        return children

    def _token_child(self, key: tuple[str, str]):
        child = self._token_children.get(key)
        if child is None:
            child = self._token_children[key] = TOKEN_CHECKS.labels(*key)
        return child


def _observe_all(histogram, durations: list[float]) -> None:
    """``histogram.observe`` for each duration, with one write per bucket touched.

    Uses the child's bucket values, as ``observe`` does; should a prometheus_client release
    change them, it falls back to ``observe`` (tests/unit/observe/test_metrics.py compares the two).
    """
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None:
        for duration in durations:
            histogram.observe(duration)
        return
    per_bucket = collections.Counter(bisect.bisect_left(bounds, duration) for duration in durations)
    total.inc(sum(durations))
    for index, count in per_bucket.items():
        buckets[min(index, len(buckets) - 1)].inc(count)


_BATCH = _Batch()


class AuthMetrics:
    """Counts attempts for the configured providers (batched, see :class:`_Batch`)."""

    def __init__(self, provider_ids: Iterable[str]):
        self._providers = frozenset(provider_ids)
        self._batch = _BATCH

    def provider_label(self, provider: str | None) -> str:
        if provider is None:
            return "none"
        return provider if provider in self._providers else "unknown"

    def attempt(self, path: str, provider: str | None, outcome: str, seconds: float) -> None:
        """Count one attempt of outcome class ``outcome`` (see :func:`outcome_class`)."""
        self._batch.add(("attempt", (path, self.provider_label(provider), outcome), seconds))


def count_throttle(event: str) -> None:
    THROTTLE.labels(event).inc()


def count_credential_cache(event: str, count: int = 1) -> None:
    """``event`` is one of CREDENTIAL_CACHE_EVENTS (batched like attempts)."""
    _BATCH.add(("cache", event, count))


def count_token(kind: str, result: str) -> None:
    """``kind`` is ``gateway`` or ``idp``; ``result`` is ``valid`` or a short fixed reason."""
    _BATCH.add(("token", (kind, result[:40])))


class StateCollector:
    """Gauges read at scrape time: provider health (from the cached health checks) and the
    age of each signing key."""

    def __init__(
        self,
        provider_health: Callable[[], list[dict]],
        key_list: Callable[[], list[dict]],
        now: Callable[[], float] = time.time,
    ):
        self._provider_health = provider_health
        self._key_list = key_list
        self._now = now

    def collect(self):
        up = GaugeMetricFamily(
            "gateway_provider_up",
            "1 when the provider answered its last health check, else 0.",
            labels=["provider", "type"],
        )
        checked = GaugeMetricFamily(
            "gateway_provider_check_duration_seconds",
            "How long the provider's last health check took.",
            labels=["provider", "type"],
        )
        for provider in self._provider_health():
            up.add_metric([provider["id"], provider["type"]], 1.0 if provider["healthy"] else 0.0)
            checked.add_metric([provider["id"], provider["type"]], provider["checkedMs"] / 1000)
        yield up
        yield checked
        ages = GaugeMetricFamily(
            "gateway_signing_key_age_seconds",
            "Age of each stored signing key, by state.",
            labels=["kid", "state"],
        )
        try:
            keys = self._key_list()
        except Exception:
            keys = []
        now = self._now()
        for key in keys:
            ages.add_metric([key["kid"], key["state"]], max(0.0, now - key["created_at"].timestamp()))
        yield ages


def exposition(state: StateCollector, *more: Collector) -> tuple[bytes, str]:
    """The Prometheus text for every worker's counters plus the current state gauges (and
    those of ``more`` collectors, read at scrape time like ``state``)."""
    _BATCH.flush()
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)
        for collector in (state, *more):
            registry.register(collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    for collector in (state, *more):
        registry.register(collector)
    return generate_latest(REGISTRY) + generate_latest(registry), CONTENT_TYPE_LATEST
