"""Unit tests (no sockets): batched metric updates equal one update per event."""

from __future__ import annotations

import random

from prometheus_client import CollectorRegistry, Histogram

from gateway.observe.metrics import LATENCY_BUCKETS, _observe_all, outcome_class


def samples(histogram) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in histogram.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_batched_observations_equal_single_ones():
    rng = random.Random(7)
    durations = [rng.choice([0.0, 0.001, 0.0025, 30.0, 31.0]) for _ in range(50)]
    durations += [rng.uniform(0, 40) for _ in range(500)]
    one_by_one = Histogram("a", "a", buckets=LATENCY_BUCKETS, registry=CollectorRegistry())
    batched = Histogram("a", "a", buckets=LATENCY_BUCKETS, registry=CollectorRegistry())
    for duration in durations:
        one_by_one.observe(duration)
    _observe_all(batched, durations)
    expected, got = samples(one_by_one), samples(batched)
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        assert abs(got[key] - value) < 1e-6, key


def test_outcome_classes():
    assert [outcome_class(s) for s in (200, 302, 401, 403, 429, 503, 415, 500, 418)] == [
        "success",
        "success",
        "rejected",
        "forbidden",
        "throttled",
        "unavailable",
        "bad_request",
        "error",
        "other",
    ]
