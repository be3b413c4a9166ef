"""Every provider type the gateway can configure: ``type:`` name -> (config schema, factory).

Adding a provider type is one folder (``providers/<type>/`` with its ``config.py``,
provider and ``factory.py`` defining ``PROVIDER_TYPE``) and one line in ``_TYPES`` below; see
``docs/providers-internals.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from providers.ldap.factory import PROVIDER_TYPE as LDAP
from providers.local.factory import PROVIDER_TYPE as LOCAL
from providers.oidc.factory import PROVIDER_TYPE as OIDC
from providers.providertype import BuildContext, BuiltProvider, ProviderType
from providers.schema import ConfigError, load_section

_TYPES = (LOCAL, LDAP, OIDC)

CATALOG: Mapping[str, ProviderType] = MappingProxyType({kind.name: kind for kind in _TYPES})


def parse_section(item: Any, source: str, where: str) -> tuple[str, dict[str, Any]]:
    """``(type, options)`` of one ``providers[n]`` section (``where``), validated by its
    type's schema; ``options`` still holds ``id`` and ``type``. ConfigError names the key."""
    kind = item.get("type") if isinstance(item, dict) else None
    provider_type = CATALOG.get(kind) if isinstance(kind, str) else None
    if provider_type is None:
        raise ConfigError(source, f"{where}.type", f"must be one of {', '.join(sorted(CATALOG))}")
    return provider_type.name, load_section(provider_type.schema, item, source, where)


def build_provider(
    kind: str, provider_id: str, options: Mapping[str, Any], context: BuildContext
) -> BuiltProvider:
    """The provider of catalogued type ``kind`` for its validated ``options`` (without
    ``id`` and ``type``). KeyError for a type not in the catalog (validation prevents it)."""
    return CATALOG[kind].build(provider_id, options, context)
