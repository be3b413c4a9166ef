"""The ``ldap`` provider type: an LDAP directory or Active Directory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.base import (
    Closable,
    DirectoryListing,
    HealthCheck,
    IdentityLookup,
    PasswordProvider,
    TrialLogin,
)
from providers.ldap.config import SECRET_FIELDS, LdapProviderSchema, ldap_settings
from providers.ldap.provider import LdapProvider
from providers.providertype import BuildContext, BuiltProvider, ProviderType


def build(provider_id: str, options: Mapping[str, Any], context: BuildContext) -> BuiltProvider:
    """An LDAP provider for a validated ``type: ldap`` section."""
    return BuiltProvider(LdapProvider(provider_id, ldap_settings(dict(options)), context.canonical))


PROVIDER_TYPE = ProviderType(
    "ldap",
    LdapProviderSchema,
    build,
    capabilities=(PasswordProvider, IdentityLookup, HealthCheck, Closable, TrialLogin, DirectoryListing),
    secret_fields=SECRET_FIELDS,
)
