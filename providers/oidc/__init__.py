"""An OpenID Connect IdP as a browser-login and bearer-token provider (requests, pyjwt)."""

from providers.oidc.claims import OidcRejected
from providers.oidc.provider import OidcProvider
from providers.oidc.settings import ASYMMETRIC_ALGORITHMS, OidcSettings, OidcTokenSettings

__all__ = ["ASYMMETRIC_ALGORITHMS", "OidcProvider", "OidcRejected", "OidcSettings", "OidcTokenSettings"]
