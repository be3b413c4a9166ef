"""The ``registry:`` section is configuration: it is parsed in :mod:`gateway.config.registry`
(the config package may not import this one); these names stay importable from here."""

from gateway.config.registry import (
    RegistryConfig,
    RegistrySettings,
    parse_registry_config,
    parse_registry_settings,
)

__all__ = ["RegistryConfig", "RegistrySettings", "parse_registry_config", "parse_registry_settings"]
