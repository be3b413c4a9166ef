"""Unit tests (no sockets): the ``registry.sync`` settings."""

from __future__ import annotations

import pytest

from gateway.config.errors import ConfigError
from gateway.config.registrysync import DEFAULT_INTERVAL, SyncSettings, parse_sync_settings


def test_absent_means_the_defaults():
    assert parse_sync_settings(None, "gateway.yaml") == SyncSettings(True, DEFAULT_INTERVAL)
    assert parse_sync_settings({}, "gateway.yaml") == SyncSettings(True, 900)


def test_both_keys_are_read():
    settings = parse_sync_settings({"enabled": False, "interval_seconds": 60}, "gateway.yaml")
    assert settings == SyncSettings(enabled=False, interval_seconds=60)


@pytest.mark.parametrize("interval", [1, 604800])
def test_the_interval_bounds_are_inclusive(interval):
    assert parse_sync_settings({"interval_seconds": interval}, "g.yaml").interval_seconds == interval


@pytest.mark.parametrize(
    "data, key, message",
    [
        ([], "registry.sync", "must be a mapping"),
        ("900", "registry.sync", "must be a mapping"),
        ({"interval": 60}, "registry.sync.interval", "unknown key"),
        ({"enabled": "yes"}, "registry.sync.enabled", "must be true or false"),
        ({"enabled": 1}, "registry.sync.enabled", "must be true or false"),
        ({"interval_seconds": 0}, "registry.sync.interval_seconds", "from 1 to 604800"),
        ({"interval_seconds": 604801}, "registry.sync.interval_seconds", "from 1 to 604800"),
        ({"interval_seconds": 60.0}, "registry.sync.interval_seconds", "must be an integer"),
        ({"interval_seconds": True}, "registry.sync.interval_seconds", "must be an integer"),
        ({"interval_seconds": "60"}, "registry.sync.interval_seconds", "must be an integer"),
    ],
)
def test_mistakes_name_the_dotted_key(data, key, message):
    with pytest.raises(ConfigError) as raised:
        parse_sync_settings(data, "gateway.yaml")
    assert key in str(raised.value) and message in str(raised.value)
    assert "gateway.yaml" in str(raised.value)


def test_the_dotted_prefix_can_be_named():
    with pytest.raises(ConfigError, match="elsewhere.sync.enabled"):
        parse_sync_settings({"enabled": None}, "g.yaml", where="elsewhere.sync")
