"""The LDAP diagnostics against a real Active Directory (Samba AD): the connection over LDAPS
with the CA, and the groups found by AD's in-chain rule, which resolves the nesting itself, so
each group is reported as found by ``in_chain`` with that said. One test: AD is slow to start."""

from __future__ import annotations

import pytest

from gateway.admin import providerdiag
from gateway.login.usernames import UsernamePolicy
from tests.support import addc

pytestmark = pytest.mark.integration


def test_connection_search_and_in_chain_groups_at_active_directory(samba_ad):
    config = {
        "id": "corp",
        "type": "ldap",
        "preset": "active_directory",
        "servers": [samba_ad.ldaps_url],
        "tls": {"ca_file": str(samba_ad.ca_file)},
        "bind": {"dn": addc.SVC_UPN, "password": addc.SVC_PASSWORD},
        "user": {"base": addc.BASE_DN},
        "groups": {"base": addc.BASE_DN},
        "connect_timeout_seconds": 2,
        "operation_timeout_seconds": 4,
    }
    connection = providerdiag.test_connection(config)
    (server,) = connection["servers"]
    assert connection["ok"] is True, server
    steps = {step["step"]: step for step in server["steps"]}
    assert steps["tls"]["detail"].startswith("LDAPS: certificate verified")

    result = providerdiag.show_groups(config, "ann", canonical=UsernamePolicy().canonical)
    assert result["ok"] is True and "(sAMAccountName=ann)" in result["filter"]
    groups = {group["dn"].upper(): group for group in result["groups"]}
    assert {addc.PILOTS_DN.upper(), addc.REGISTRY_USERS_DN.upper()} <= set(groups)
    for group in result["groups"]:
        assert group["strategy"] == "in_chain" and "in-chain" in group["note"]
    assert addc.SVC_PASSWORD not in repr(connection) + repr(result)
