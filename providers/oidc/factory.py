"""The ``oidc`` provider type: an OpenID Connect IdP, for browser logins and bearer tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.base import CallbackProvider, Closable, HealthCheck, TokenProvider
from providers.oidc.config import OidcProviderSchema, oidc_settings
from providers.oidc.provider import OidcProvider
from providers.providertype import BuildContext, BuiltProvider, ProviderType


def build(provider_id: str, options: Mapping[str, Any], context: BuildContext) -> BuiltProvider:
    """An OIDC provider for a validated ``type: oidc`` section."""
    return BuiltProvider(OidcProvider(provider_id, oidc_settings(dict(options)), context.canonical))


PROVIDER_TYPE = ProviderType(
    "oidc",
    OidcProviderSchema,
    build,
    capabilities=(TokenProvider, CallbackProvider, HealthCheck, Closable),
)
