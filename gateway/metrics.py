"""Prometheus metrics: what the gateway counts, and the ``/metrics`` exposition.

Under gunicorn every worker is its own process, so counters and histograms use
prometheus_client's multiprocess mode: each worker writes its values to memory-mapped files in
``PROMETHEUS_MULTIPROC_DIR`` (set up by :mod:`gateway.serving` before any worker starts), and a
scrape of any worker adds up all of them. Without that variable (the Flask test client, a
one-off script) the values live in this process's default registry.

Label values are bounded by construction: providers are the configured ids (anything else is
``unknown``), outcome classes and paths come from short fixed lists, and nothing about a user,
a token or a password is ever a label.

Gauges that describe the present (provider health, signing-key ages) are computed when scraped
by :class:`StateCollector`, never stored per worker.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Iterable

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# prometheus_client switches to multiprocess mode when the variable merely exists; an empty
# value (a copied .env line) would write value files into the working directory.
if os.environ.get(MULTIPROC_ENV) == "":
    del os.environ[MULTIPROC_ENV]

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

# Seconds: a token check takes about a millisecond, an argon2 login a few tens, LDAP and an
# IdP round trip up to the configured time budget.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)

# The HTTP status of an attempt's answer, as the class an operator alerts on.
OUTCOME_CLASSES = {200: "success", 302: "success", 303: "success", 400: "bad_request",
                   413: "bad_request", 415: "bad_request", 401: "rejected", 403: "forbidden",
                   429: "throttled", 503: "unavailable"}
AUTH_PATHS = ("password", "token", "sso", "browser_password", "admin_token")
THROTTLE_EVENTS = ("refused", "failure_counted", "lockout_started", "store_unavailable")

LOGINS = Counter(
    "gateway_auth_attempts", "Authentication attempts by path, provider and outcome class.",
    ["path", "provider", "outcome"])
LATENCY = Histogram(
    "gateway_auth_duration_seconds", "Time to answer an authentication attempt.",
    ["path", "provider"], buckets=LATENCY_BUCKETS)
THROTTLE = Counter(
    "gateway_throttle_events", "Per-account throttle events.", ["event"])
TOKEN_CHECKS = Counter(
    "gateway_token_verifications", "Tokens presented on the token path, by kind and result.",
    ["kind", "result"])


def outcome_class(status: int) -> str:
    """The outcome class of an answer with HTTP ``status``."""
    return OUTCOME_CLASSES.get(status, "error" if status >= 500 else "other")


class AuthMetrics:
    """Counts attempts for the configured providers; label children are cached, so one
    attempt costs a dictionary lookup and two value updates."""

    def __init__(self, provider_ids: Iterable[str]):
        self._providers = frozenset(provider_ids)
        self._children: dict[tuple[str, str, str], tuple] = {}

    def provider_label(self, provider: str | None) -> str:
        if provider is None:
            return "none"
        return provider if provider in self._providers else "unknown"

    def attempt(self, path: str, provider: str | None, outcome: str, seconds: float) -> None:
        """Count one attempt of outcome class ``outcome`` (see :func:`outcome_class`)."""
        key = (path, self.provider_label(provider), outcome)
        children = self._children.get(key)
        if children is None:
            children = (LOGINS.labels(*key), LATENCY.labels(key[0], key[1]))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)


def count_throttle(event: str) -> None:
    THROTTLE.labels(event).inc()


_TOKEN_CHILDREN: dict[tuple[str, str], object] = {}


def count_token(kind: str, result: str) -> None:
    """``kind`` is ``gateway`` or ``idp``; ``result`` is ``valid`` or a short fixed reason."""
    child = _TOKEN_CHILDREN.get((kind, result))
    if child is None:
        child = _TOKEN_CHILDREN[(kind, result)] = TOKEN_CHECKS.labels(kind, result[:40])
    child.inc()


class StateCollector:
    """Gauges read at scrape time: provider health (from the cached health checks) and the
    age of each signing key."""

    def __init__(self, provider_health: Callable[[], list[dict]], key_list: Callable[[], list[dict]],
                 now: Callable[[], float] = time.time):
        self._provider_health = provider_health
        self._key_list = key_list
        self._now = now

    def collect(self):
        up = GaugeMetricFamily("gateway_provider_up", "1 when the provider answered its last "
                               "health check, else 0.", labels=["provider", "type"])
        checked = GaugeMetricFamily("gateway_provider_check_duration_seconds",
                                    "How long the provider's last health check took.",
                                    labels=["provider", "type"])
        for provider in self._provider_health():
            up.add_metric([provider["id"], provider["type"]], 1.0 if provider["healthy"] else 0.0)
            checked.add_metric([provider["id"], provider["type"]], provider["checkedMs"] / 1000)
        yield up
        yield checked
        ages = GaugeMetricFamily("gateway_signing_key_age_seconds",
                                 "Age of each stored signing key, by state.",
                                 labels=["kid", "state"])
        try:
            keys = self._key_list()
        except Exception:  # noqa: BLE001 - a database outage must not break the scrape
            keys = []
        now = self._now()
        for key in keys:
            ages.add_metric([key["kid"], key["state"]], max(0.0, now - key["created_at"].timestamp()))
        yield ages


def exposition(state: StateCollector) -> tuple[bytes, str]:
    """The Prometheus text for every worker's counters plus the current state gauges."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        MultiProcessCollector(registry)
        registry.register(state)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    registry.register(state)
    return generate_latest(REGISTRY) + generate_latest(registry), CONTENT_TYPE_LATEST
