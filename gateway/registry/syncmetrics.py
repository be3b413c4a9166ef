"""Prometheus metrics of the directory sync, in the style of :mod:`gateway.observe.metrics`.

Written by the process that ran the sync (multiprocess mode adds the workers up). Labels are
the configured provider ids, the change kinds and the run states: all bounded. Dry runs are
not counted: they change nothing.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from gateway.registry.syncresult import CHANGE_KINDS, SyncResult

DURATION = Histogram(
    "gateway_directory_sync_duration_seconds",
    "How long a directory sync run took, every directory read included.",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800),
)
RUNS = Counter(
    "gateway_directory_sync_runs", "Directory sync runs, by outcome (done, partial, failed).", ["state"]
)
CHECKED = Counter(
    "gateway_directory_sync_users_checked",
    "Gateway users a directory sync run compared with their directory entry, by provider.",
    ["provider"],
)
CHANGES = Counter(
    "gateway_directory_sync_changes",
    "Users a directory sync run disabled, re-enabled or re-mapped, by provider and kind.",
    ["provider", "kind"],
)


def observe_run(result: SyncResult) -> None:
    """Count a finished run that was not a dry run."""
    if result.dry_run:
        return
    DURATION.observe(result.duration_seconds)
    RUNS.labels(result.state).inc()
    for outcome in result.directories:
        CHECKED.labels(outcome.provider).inc(outcome.checked)
        for kind in CHANGE_KINDS:
            if outcome.counts[kind]:
                CHANGES.labels(outcome.provider, kind).inc(outcome.counts[kind])
