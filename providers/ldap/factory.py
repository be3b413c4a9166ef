"""The ``ldap`` provider type: an LDAP directory or Active Directory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.base import (
    Closable,
    DirectoryListing,
    GroupDirectory,
    HealthCheck,
    IdentityLookup,
    PasswordProvider,
    TrialLogin,
)
from providers.ldap import diagnose
from providers.ldap.adminform import ADMIN_FORM
from providers.ldap.config import SECRET_DESTINATION_FIELDS, SECRET_FIELDS, LdapProviderSchema, ldap_settings
from providers.ldap.provider import LdapProvider
from providers.providertype import BuildContext, BuiltProvider, Diagnostics, ProviderType


def build(provider_id: str, options: Mapping[str, Any], context: BuildContext) -> BuiltProvider:
    """An LDAP provider for a validated ``type: ldap`` section."""
    return BuiltProvider(LdapProvider(provider_id, ldap_settings(dict(options)), context.canonical))


PROVIDER_TYPE = ProviderType(
    "ldap",
    LdapProviderSchema,
    build,
    capabilities=(
        PasswordProvider,
        IdentityLookup,
        HealthCheck,
        Closable,
        TrialLogin,
        DirectoryListing,
        GroupDirectory,
    ),
    diagnostics=Diagnostics(
        connection=diagnose.test_connection, search=diagnose.search_user, groups=diagnose.show_groups
    ),
    secret_fields=SECRET_FIELDS,
    secret_destination_fields=SECRET_DESTINATION_FIELDS,
    admin_form=ADMIN_FORM,
)
