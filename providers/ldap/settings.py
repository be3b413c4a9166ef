"""What an LDAP directory provider is configured with, and the presets that fill the gaps.

Plain frozen values: the gateway validates the YAML and builds these; tests and the CLI may
build them directly. ``apply_preset`` merges a preset's defaults under what was configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Group strategies a directory can be asked with; any combination may be configured.
MEMBER_OF = "member_of"  # memberOf values on the user entry
MEMBER = "member"  # group search by the user's DN (member / uniqueMember)
MEMBER_UID = "member_uid"  # posixGroup search by the user's uid (memberUid)
IN_CHAIN = "in_chain"  # AD: one search with LDAP_MATCHING_RULE_IN_CHAIN, already transitive
STRATEGIES = (MEMBER_OF, MEMBER, MEMBER_UID, IN_CHAIN)

ACCOUNT_STATES = ("none", "openldap", "active_directory")


@dataclass(frozen=True)
class TlsSettings:
    ca_file: str | None = None
    client_cert_file: str | None = None
    client_key_file: str | None = None
    verify_hostname: bool = True


@dataclass(frozen=True)
class UserSettings:
    base: str
    scope: str = "subtree"  # "subtree" or "one"
    filter: str = "(uid={username})"  # {username} is filter-escaped exactly once
    dn_template: str | None = None  # direct bind: {username} is RDN-escaped; no search
    username_attribute: str = "uid"
    email_attribute: str | None = "mail"
    display_name_attribute: str | None = "displayName"
    id_attribute: str = "entryUUID"
    attributes: Mapping[str, str] = field(default_factory=dict)  # exposed name -> LDAP attribute
    quota_attribute: str | None = None  # integer attribute -> the maxStorageMB override


@dataclass(frozen=True)
class GroupSettings:
    strategies: tuple[str, ...] = (MEMBER,)
    base: str | None = None  # required by every strategy but member_of alone
    scope: str = "subtree"
    # Only groups carry member/uniqueMember; a lean filter matters, as nesting ORs it per group.
    member_filter: str = "(|(member={dn})(uniqueMember={dn}))"
    member_uid_filter: str = "(&(objectClass=posixGroup)(memberUid={uid}))"
    member_uid_attribute: str = "uid"  # the user attribute memberUid values hold
    in_chain_filter: str = "(member:1.2.840.113556.1.4.1941:={dn})"
    name_attribute: str = "cn"
    nested: bool = True
    max_depth: int = 8
    page_size: int = 500
    nesting_cache_seconds: float = 60.0  # 0: walk the nesting at every login


@dataclass(frozen=True)
class LdapSettings:
    """One directory: where it is, how to find and check users, how to find their groups."""

    servers: tuple[str, ...]
    user: UserSettings
    groups: GroupSettings = GroupSettings()
    start_tls: bool = False
    tls: TlsSettings = TlsSettings()
    bind_dn: str | None = None  # service account; None = anonymous search
    bind_password: str | None = None
    connect_timeout: float = 2.0
    operation_timeout: int = 4  # whole seconds: ldap3 sets SO_RCVTIMEO from it
    login_timeout: float = 10.0  # no connect, bind, operation or page starts after this
    retry_dead_after: float = 10.0
    pool_size: int = 4
    pool_max_idle: float = 300.0  # below common server/firewall idle cut-offs
    account_state: str = "none"
    equalize_unknown_user_timing: bool = True

    @property
    def time_budget(self) -> float:
        """The most a single login can take: the login timeout plus one step that started
        just before it ran out. The longest step is a connect with its TLS handshake (the
        handshake runs under the operation timeout)."""
        return self.login_timeout + self.connect_timeout + self.operation_timeout


PRESETS: Mapping[str, Mapping[str, Any]] = {
    "openldap": {
        "user": {
            "filter": "(&(objectClass=inetOrgPerson)(uid={username}))",
            "username_attribute": "uid",
            "email_attribute": "mail",
            "display_name_attribute": "displayName",
            "id_attribute": "entryUUID",
        },
        "groups": {"strategies": [MEMBER], "name_attribute": "cn"},
        "account_state": "openldap",
    },
    "active_directory": {
        "user": {
            "filter": "(&(objectCategory=person)(objectClass=user)(sAMAccountName={username}))",
            "username_attribute": "sAMAccountName",
            "email_attribute": "mail",
            "display_name_attribute": "displayName",
            "id_attribute": "objectGUID",
        },
        "groups": {
            "strategies": [IN_CHAIN],
            "member_filter": "(member={dn})",
            "name_attribute": "cn",
        },
        "account_state": "active_directory",
    },
}


def apply_preset(preset: str | None, configured: Mapping[str, Any]) -> dict[str, Any]:
    """The configured options with the preset's defaults beneath them (one level deep for the
    ``user`` and ``groups`` sections). Unknown presets raise KeyError."""
    merged: dict[str, Any] = dict(configured)
    if preset is None:
        return merged
    for key, value in PRESETS[preset].items():
        if isinstance(value, Mapping):
            section = configured.get(key)
            if section is None or isinstance(section, Mapping):
                merged[key] = {**value, **(section or {})}
            # anything else is left for the schema to refuse, naming the key
        else:
            merged.setdefault(key, value)
    return merged
