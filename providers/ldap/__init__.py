"""LDAP and Active Directory as a password provider (ldap3)."""

from providers.ldap.provider import LdapProvider
from providers.ldap.settings import GroupSettings, LdapSettings, TlsSettings, UserSettings

__all__ = ["GroupSettings", "LdapProvider", "LdapSettings", "TlsSettings", "UserSettings"]
