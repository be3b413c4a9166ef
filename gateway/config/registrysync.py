"""The ``registry.sync`` settings: whether and how often the directory sync runs.

::

    registry:
      sync:
        enabled: true            # default: true (a run needs an ldap provider to read)
        interval_seconds: 900    # a run starts when this long has passed since the last one
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.config.errors import ConfigError

DEFAULT_INTERVAL = 900


@dataclass(frozen=True)
class SyncSettings:
    enabled: bool = True
    interval_seconds: int = DEFAULT_INTERVAL


def parse_sync_settings(data: Any, source: str, where: str = "registry.sync") -> SyncSettings:
    """The ``registry.sync`` mapping (absent: the defaults) as settings; ConfigError naming the
    dotted key otherwise."""
    if data is None:
        return SyncSettings()
    if not isinstance(data, Mapping):
        raise ConfigError(source, where, "must be a mapping")
    unknown = sorted(set(data) - {"enabled", "interval_seconds"})
    if unknown:
        raise ConfigError(source, f"{where}.{unknown[0]}", "unknown key; allowed: enabled, interval_seconds")
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(source, f"{where}.enabled", "must be true or false")
    interval = data.get("interval_seconds", DEFAULT_INTERVAL)
    if type(interval) is not int or not 1 <= interval <= 7 * 86400:
        raise ConfigError(source, f"{where}.interval_seconds", "must be an integer from 1 to 604800")
    return SyncSettings(enabled=enabled, interval_seconds=interval)
