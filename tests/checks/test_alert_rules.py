"""Unit tests (no sockets): the example alerting rules (deploy/prometheus/alerts.yaml) lint
clean, have the shape Prometheus loads, and name only metrics the gateway exports."""

from __future__ import annotations

import re

import yaml
from prometheus_client import REGISTRY
from yamllint import linter

import gateway.registry.outboxmetrics
import gateway.registry.syncmetrics  # registers the directory sync metrics
from gateway.registry.outbox import OutboxStatus
from gateway.registry.results import RegistryHealth
from tests.checks.test_deploy_files import YAMLLINT
from tests.support.paths import REPO_ROOT

ALERTS = REPO_ROOT / "deploy" / "prometheus" / "alerts.yaml"
# What prometheus_client appends to a family's name in the samples it exposes.
SAMPLE_SUFFIXES = ("_total", "_created", "_bucket", "_count", "_sum")


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def exported_families() -> set[str]:
    """Every metric family the code defines: the registered counters and histograms, and the
    gauges the Registry link's collector yields at scrape time."""
    names = {family.name for family in REGISTRY.collect()}
    status = OutboxStatus(
        pending=1, retrying=0, failed=0, dropped=0, oldest_pending_age_seconds=1.0, last_retry_error=None
    )
    collector = gateway.registry.outboxmetrics.OutboxCollector(lambda: status, lambda: RegistryHealth("ok"))
    return names | {family.name for family in collector.collect()}


def family_of(sample_name: str) -> str:
    for suffix in SAMPLE_SUFFIXES:
        if sample_name.endswith(suffix):
            return sample_name.removesuffix(suffix)
    return sample_name


def test_alert_rules_lint_clean_and_have_the_rule_file_shape():
    assert [f"{p.line}:{p.column} {p.message}" for p in linter.run(ALERTS.read_text(), YAMLLINT)] == []
    found = rules()
    assert {rule["alert"] for rule in found} >= {
        "GatewayRegistryWritesFailed",
        "GatewayRegistryWritesStuck",
        "GatewayRegistryLinkDown",
        "GatewayDirectorySyncFailed",
        "GatewayDirectorySyncStale",
    }
    for rule in found:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert isinstance(rule["expr"], str) and rule["annotations"]["summary"], rule["alert"]


def test_every_metric_an_alert_names_is_exported():
    exported = exported_families()
    named = {name for rule in rules() for name in re.findall(r"\bgateway_[a-z_]+", rule["expr"])}
    assert named, "the rules name no gateway metric"
    assert {name for name in named if family_of(name) not in exported} == set()
