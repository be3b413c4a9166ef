"""A gateway under gunicorn for the directory sync's admin API and UI tests: the local admin
and seed users (tests.support.adminapi) next to an OpenLDAP provider ``directory`` on a slapd
of the test's own (tests delete entries), the periodic schedule off so that only the tests
start runs, and directory users the gateway knows from a login."""

from __future__ import annotations

from pathlib import Path

from tests.support import ldapdata as data
from tests.support.adminapi import registry_answer, start_admin_gateway
from tests.support.harness import GatewayUnderTest
from tests.support.ldapserver import SlapdServer
from tests.support.servers import free_port

DIRECTORY_USERS = ("erin", "frank")


def directory_provider(provider_id: str, directory_url: str, strategies: str) -> str:
    """A ``providers:`` list item (YAML, from ``  - id:``): an OpenLDAP provider reading the
    test directory (tests.support.ldapdata) at ``directory_url`` with the group
    ``strategies`` (e.g. ``member_of, member_uid``), with short timeouts."""
    return f"""  - id: {provider_id}
    type: ldap
    preset: openldap
    servers: ["{directory_url}"]
    bind: {{dn: "{data.SERVICE_DN}", password: "{data.SERVICE_PASSWORD}"}}
    user: {{base: "{data.PEOPLE_DN}"}}
    groups: {{base: "{data.GROUPS_DN}", strategies: [{strategies}]}}
    connect_timeout_seconds: 1
    operation_timeout_seconds: 2
"""


def sync_config(directory_url: str) -> str:
    return f"""
usernames: {{lowercase: true}}
providers:
  - id: local
    type: local
{directory_provider("directory", directory_url, "member_of, member_uid")}registry:
  sync: {{enabled: false, interval_seconds: 3600}}
"""


def start_sync_gateway(tmp_path: Path, directory: SlapdServer) -> GatewayUnderTest:
    """The gateway described in the module doc; erin and frank have logged in once."""
    port = free_port()
    gateway = start_admin_gateway(
        tmp_path,
        sync_config(directory.url),
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    for username in DIRECTORY_USERS:
        answer = registry_answer(gateway, username=username, password=data.password_for(username))
        assert answer.status_code == 200, answer.text
    return gateway


def leave_directory(directory: SlapdServer, username: str) -> None:
    """Delete ``username``'s entry: they left."""
    directory.modify_ldif(f"dn: uid={username},{data.PEOPLE_DN}\nchangetype: delete\n")
