"""The ``oidc`` provider type: an OpenID Connect IdP, for browser logins and bearer tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.base import BackchannelLogoutReceiver, CallbackProvider, Closable, HealthCheck, TokenProvider
from providers.oidc.adminform import ADMIN_FORM
from providers.oidc.config import SECRET_DESTINATION_FIELDS, SECRET_FIELDS, OidcProviderSchema, oidc_settings
from providers.oidc.diagnose import oidc_discovery
from providers.oidc.provider import OidcProvider
from providers.providertype import BuildContext, BuiltProvider, Diagnostics, ProviderType, TokenRouting


def build(provider_id: str, options: Mapping[str, Any], context: BuildContext) -> BuiltProvider:
    """An OIDC provider for a validated ``type: oidc`` section."""
    return BuiltProvider(OidcProvider(provider_id, oidc_settings(dict(options)), context.canonical))


def browser_login(options: Mapping[str, Any]) -> bool:
    """Whether browsers sign in with it: unless configured ``browser_login: false``."""
    return bool(options.get("browser_login", True))


def token_routing(options: Mapping[str, Any]) -> TokenRouting:
    """JWTs of its issuer when it accepts ID tokens or access tokens for some audience;
    opaque tokens with ``tokens.introspection``."""
    tokens = options["tokens"]
    accepts_jwts = tokens["accept_id_tokens"] or tokens["access_token_audiences"]
    return TokenRouting(
        jwt_issuer=options["issuer"] if accepts_jwts else None,
        introspects=bool(tokens["introspection"]),
        jwt_key="tokens",
        introspection_key="tokens.introspection",
    )


PROVIDER_TYPE = ProviderType(
    "oidc",
    OidcProviderSchema,
    build,
    capabilities=(TokenProvider, CallbackProvider, BackchannelLogoutReceiver, HealthCheck, Closable),
    browser_login=browser_login,
    token_routing=token_routing,
    diagnostics=Diagnostics(connection=oidc_discovery, discovery=oidc_discovery),
    secret_fields=SECRET_FIELDS,
    secret_destination_fields=SECRET_DESTINATION_FIELDS,
    admin_form=ADMIN_FORM,
)
