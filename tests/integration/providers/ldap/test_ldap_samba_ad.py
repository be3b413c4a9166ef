"""The active_directory preset against a real Active Directory: a Samba AD domain controller.

Only the server list, bases, service account and CA are configured; everything else is the
preset (sAMAccountName, objectGUID, the in-chain rule for nested groups, AD account state).
"""

from __future__ import annotations

import uuid

import pytest

from gateway.config.file import parse_config
from gateway.login.usernames import UsernamePolicy
from providers.base import Identity, ProviderUnavailable, Rejection
from providers.ldap import LdapProvider
from providers.ldap.config import ldap_settings
from tests.support import addc

pytestmark = pytest.mark.integration


def active_directory(server, **changes) -> LdapProvider:
    options = {
        "id": "corp",
        "type": "ldap",
        "preset": "active_directory",
        "servers": [server.ldaps_url],
        "tls": {"ca_file": str(server.ca_file)},
        "bind": {"dn": addc.SVC_UPN, "password": addc.SVC_PASSWORD},
        "user": {"base": addc.BASE_DN},
        "groups": {"base": addc.BASE_DN},
        "connect_timeout_seconds": 2,
        "operation_timeout_seconds": 4,
        **changes,
    }
    config = parse_config({"providers": [options]}, "test")
    return LdapProvider("corp", ldap_settings(dict(config.providers[0].options)), UsernamePolicy().canonical)


def test_sam_account_name_login_with_nested_groups_by_the_in_chain_rule(samba_ad):
    trace = []
    ann = active_directory(samba_ad).check_password(
        "ann", addc.PASSWORDS["ann"], note=lambda step, detail: trace.append((step, detail))
    )
    assert isinstance(ann, Identity) and ann.username == "ann"
    assert uuid.UUID(ann.subject)  # objectGUID, formatted
    assert ann.email == addc.ANN_MAIL
    assert {"Pilots", "Registry Users", addc.PILOTS_DN, addc.REGISTRY_USERS_DN} <= {g for g in ann.groups} | {
        g.upper() for g in ann.groups
    }
    in_chain = [d for s, d in trace if s == "groups" and "1.2.840.113556.1.4.1941" in d]
    assert len(in_chain) == 1  # one search gives every group, however deep


def test_a_user_in_no_group(samba_ad):
    bob = active_directory(samba_ad).check_password("bob", addc.PASSWORDS["bob"])
    assert isinstance(bob, Identity) and bob.groups == ()


@pytest.mark.parametrize("sam", ["disabled", "expired", "mustchange"])
def test_refused_accounts_are_disabled_only_with_the_right_password(samba_ad, sam):
    directory = active_directory(samba_ad)
    assert directory.check_password(sam, addc.PASSWORDS[sam]) is Rejection.DISABLED
    assert directory.check_password(sam, "wrong-Pass-word-9") is Rejection.WRONG_CREDENTIALS


def test_a_locked_account_looks_like_a_wrong_password(samba_ad):
    """AD answers "locked" (data 775) whatever the password, so a 403 would confirm that the
    account exists to anyone; it is a 401 like any wrong password."""
    directory = active_directory(samba_ad)
    assert directory.check_password("locked", addc.PASSWORDS["locked"]) is Rejection.WRONG_CREDENTIALS


def test_other_ad_input_forms_are_not_the_username(samba_ad):
    """AD accepts ann@realm and DOMAIN\\ann as bind names; the Registry would make each a
    separate account, so only the canonical sAMAccountName logs in (the gateway refuses
    DOMAIN\\ann before any provider: a backslash is not in the username alphabet)."""
    directory = active_directory(samba_ad)
    assert directory.check_password(addc.UPNS["ann"], addc.PASSWORDS["ann"]) is Rejection.NO_SUCH_USER
    assert directory.check_password("ann", "wrong-Pass-word-9") is Rejection.WRONG_CREDENTIALS


def test_upn_as_the_canonical_username(samba_ad):
    """An operator may choose the UPN as the username instead: then that is the one form."""
    directory = active_directory(
        samba_ad,
        user={
            "base": addc.BASE_DN,
            "username_attribute": "userPrincipalName",
            "filter": "(&(objectCategory=person)(objectClass=user)(userPrincipalName={username}))",
        },
    )
    ann = directory.check_password(addc.UPNS["ann"], addc.PASSWORDS["ann"])
    assert isinstance(ann, Identity) and ann.username == addc.UPNS["ann"]
    assert directory.check_password("ann", addc.PASSWORDS["ann"]) is Rejection.NO_SUCH_USER


def test_start_tls_and_a_wrong_ca(samba_ad, slapd):
    start_tls = active_directory(samba_ad, servers=[samba_ad.url], start_tls=True)
    assert isinstance(start_tls.check_password("ann", addc.PASSWORDS["ann"]), Identity)
    untrusted = active_directory(samba_ad, tls={"ca_file": str(slapd.pki.ca_file)})
    with pytest.raises(ProviderUnavailable):
        untrusted.check_password("ann", addc.PASSWORDS["ann"])


def test_anonymous_search_is_refused_by_ad_and_reported_unavailable(samba_ad):
    """AD refuses anonymous searches (operationsError): that is a configuration problem the
    operator must see (503 and a log line), not a wrong password for the user."""
    anonymous = active_directory(samba_ad, bind=None)
    with pytest.raises(ProviderUnavailable):
        anonymous.check_password("ann", addc.PASSWORDS["ann"])


# ---- through the gateway, as the Registry calls -----------------------------------------


@pytest.fixture(scope="module")
def ad_gateway(samba_ad, tmp_path_factory):
    from tests.support.harness import start_gateway

    config = f"""
providers:
  - id: corp
    type: ldap
    preset: active_directory
    servers: ["{samba_ad.ldaps_url}"]
    tls: {{ca_file: "{samba_ad.ca_file}"}}
    bind: {{dn: "{addc.SVC_UPN}", password: "{addc.SVC_PASSWORD}"}}
    user: {{base: "{addc.BASE_DN}"}}
    groups: {{base: "{addc.BASE_DN}"}}
  - id: local
    type: local
throttle:
  free_failures: 1000
mapping:
  default_roles: []
  rules:
    - name: registry-users
      match: {{group: "Registry Users"}}
      roles: [pilot]
      maxStorageMB: 20480
    - name: pilots-by-dn
      match: {{group: "{addc.PILOTS_DN}"}}
      roles: [flight-ops]
"""
    gateway = start_gateway(tmp_path_factory.mktemp("ad-gateway"), config, users=[])
    yield gateway
    gateway.stop()


def _login(gateway, username, password):
    return gateway.authenticate(
        {"username": username, "password": password}, headers={"Accept": "application/json"}
    )


def test_ad_login_maps_nested_groups_to_roles_and_quota(ad_gateway):
    response = _login(ad_gateway, "ann", addc.PASSWORDS["ann"])
    assert response.status_code == 200, response.text
    assert response.json() == {
        "username": "ann",
        "roles": ["pilot", "flight-ops"],
        "maxStorageMB": 20480,
        "email": addc.ANN_MAIL,
    }


@pytest.mark.parametrize("typed", [addc.UPNS["ann"], f"{addc.NETBIOS_DOMAIN}\\ann", "Ann", "ANN"])
def test_other_ad_spellings_are_401(ad_gateway, typed):
    assert _login(ad_gateway, typed, addc.PASSWORDS["ann"]).status_code == 401


@pytest.mark.parametrize(
    "sam, status", [("disabled", 403), ("expired", 403), ("mustchange", 403), ("locked", 401), ("bob", 200)]
)
def test_ad_account_states_over_http(ad_gateway, sam, status):
    assert _login(ad_gateway, sam, addc.PASSWORDS[sam]).status_code == status
    if sam != "locked":
        assert _login(ad_gateway, sam, "wrong-Pass-word-9").status_code == 401
