"""The LDAP diagnostics (providers/ldap/diagnose.py, through gateway/admin/providerdiag.py)
against the session's real slapd: each server of a failover list checked on its own (DNS, TCP,
TLS with the certificate verified or not, the service bind, the user base), the search a login
sends with the username escaped once, the groups with the strategy and nesting path that found
each, the mapping's preview, group_exists; and servers that are closed or hung answer within
the timeouts."""

from __future__ import annotations

import time

import pytest

from gateway.admin import providerdiag
from gateway.login.usernames import UsernamePolicy
from gateway.mapping import evaluate, parse_policy
from providers.ldap import LdapProvider
from providers.ldap.config import LdapProviderSchema, ldap_settings
from providers.schema import load_section
from tests.support import ldapdata as data
from tests.support.ldapserver import BlackholeServer

pytestmark = pytest.mark.integration

CANONICAL = UsernamePolicy().canonical
TIMEOUTS = {"connect_timeout_seconds": 1, "operation_timeout_seconds": 1, "login_timeout_seconds": 2}


def config(servers, **changes):
    section = {
        "id": "corp",
        "type": "ldap",
        "preset": "openldap",
        "servers": list(servers),
        "bind": {"dn": data.SERVICE_DN, "password": data.SERVICE_PASSWORD},
        "user": {"base": data.PEOPLE_DN},
        "groups": {"base": data.GROUPS_DN, "strategies": ["member", "member_uid"]},
        **TIMEOUTS,
    }
    section.update(changes)
    return section


def _steps(server_result):
    return {step["step"]: step for step in server_result["steps"]}


def test_connection_checks_every_server_of_the_failover_list_separately(slapd):
    closed = "ldap://127.0.0.1:1"
    started = time.monotonic()
    result = providerdiag.test_connection(
        config([closed, slapd.ldaps_url, slapd.url], tls={"ca_file": str(slapd.pki.ca_file)}, start_tls=True)
    )
    assert time.monotonic() - started < 10
    assert result["ok"] is True and result["provider"] == "corp" and result["type"] == "ldap"
    down, ldaps, starttls = result["servers"]
    assert down["url"] == closed and down["ok"] is False
    assert _steps(down)["dns"]["ok"] is True
    assert _steps(down)["tcp"]["ok"] is False and "port 1" in _steps(down)["tcp"]["detail"]
    assert "bind" not in _steps(down)
    for server, kind in ((ldaps, "LDAPS"), (starttls, "StartTLS")):
        steps = _steps(server)
        assert server["ok"] is True, server
        assert [step["step"] for step in server["steps"]] == ["dns", "tcp", "tls", "bind", "base"]
        assert steps["tls"]["ok"] is True and steps["tls"]["detail"].startswith(
            f"{kind}: certificate verified"
        )
        assert steps["bind"]["detail"] == f"service account {data.SERVICE_DN} bound"
        assert all(isinstance(step["ms"], int) for step in server["steps"])
    # The service password is never part of a result.
    assert data.SERVICE_PASSWORD not in repr(result)


def test_an_untrusted_certificate_and_a_wrong_service_password_are_named(slapd):
    untrusted = providerdiag.test_connection(
        config([slapd.ldaps_url], tls={"ca_file": str(slapd.pki.wrong_ca_file)})
    )
    (server,) = untrusted["servers"]
    assert untrusted["ok"] is False and _steps(server)["tls"]["ok"] is False
    assert (
        "not trusted" in _steps(server)["tls"]["detail"] and "tls.ca_file" in _steps(server)["tls"]["detail"]
    )

    wrong = providerdiag.test_connection(
        config([slapd.url], bind={"dn": data.SERVICE_DN, "password": "not-the-password"})
    )
    (server,) = wrong["servers"]
    assert _steps(server)["tls"]["ok"] is None  # plain ldap:// without StartTLS: a warning
    assert _steps(server)["bind"]["ok"] is False and "result 49" in _steps(server)["bind"]["detail"]
    assert "not-the-password" not in repr(wrong)


def test_a_hung_server_and_an_unknown_host_answer_within_the_timeouts(slapd):
    hung = BlackholeServer.start()
    try:
        started = time.monotonic()
        result = providerdiag.test_connection(config([hung.url, "ldap://no-such-host.invalid"]))
        took = time.monotonic() - started
    finally:
        hung.stop()
    assert took < 8, took
    blackhole, unknown = result["servers"]
    assert result["ok"] is False
    assert _steps(blackhole)["tcp"]["ok"] is True and blackhole["ok"] is False
    assert _steps(unknown)["dns"]["ok"] is False and "does not resolve" in _steps(unknown)["dns"]["detail"]


def test_user_search_shows_the_filter_sent_escaped_once_and_the_entry(slapd):
    result = providerdiag.search_user(config([slapd.url]), "alice", canonical=CANONICAL)
    assert result["ok"] is True and result["outcome"] == "found"
    assert result["filter"] == "(&(objectClass=inetOrgPerson)(uid=alice))"
    assert result["base"] == data.PEOPLE_DN and result["scope"] == "subtree"
    assert result["entry"]["dn"] == data.ALICE_DN
    assert result["entry"]["attributes"]["uid"] == ["alice"]
    assert "userPassword" not in result["entry"]["attributes"]

    hostile = providerdiag.search_user(config([slapd.url]), "*)(uid=*", canonical=CANONICAL)
    assert hostile["filter"] == "(&(objectClass=inetOrgPerson)(uid=\\2a\\29\\28uid=\\2a))"
    assert hostile["ok"] is False and hostile["outcome"] == "not_found" and hostile["entry"] is None


def test_user_search_against_a_directory_that_is_down_is_a_result():
    result = providerdiag.search_user(config(["ldap://127.0.0.1:1"]), "alice", canonical=CANONICAL)
    assert result["ok"] is False and result["outcome"] == "unavailable"
    assert "no directory server reachable" in result["detail"]


def test_groups_show_strategy_depth_and_path_and_the_mapping_preview(slapd):
    policy = parse_policy(
        {
            "default_roles": ["viewer"],
            "rules": [
                {"name": "staff", "match": {"group": "staff"}, "roles": ["staff"], "maxStorageMB": 500},
                {"name": "ops", "match": {"group": "ops"}, "roles": ["operator"]},
            ],
        },
        "test",
    )
    result = providerdiag.show_groups(
        config([slapd.url]),
        "alice",
        canonical=CANONICAL,
        evaluate=lambda identity: evaluate(policy, identity, identity.overrides),
    )
    assert result["ok"] is True
    groups = {group["name"]: group for group in result["groups"]}
    assert groups["developers"] == {
        **groups["developers"],
        "strategy": "member",
        "nested": False,
        "depth": 0,
        "path": ["developers"],
    }
    assert groups["ops"]["strategy"] == "member_uid" and groups["ops"]["depth"] == 0
    assert groups["engineering"]["depth"] == 1 and groups["engineering"]["path"] == [
        "developers",
        "engineering",
    ]
    assert groups["staff"]["depth"] == 2 and groups["staff"]["path"] == ["developers", "engineering", "staff"]
    assert groups["staff"]["strategy"] == "member" and groups["staff"]["nested"] is True
    preview = result["preview"]
    assert preview["roles"] == ["viewer", "staff", "operator"] and preview["maxStorageMB"] == 500
    assert preview["answer"]["username"] == "alice" and preview["denied"] is False


def test_member_of_strategy_is_named(slapd):
    result = providerdiag.show_groups(
        config([slapd.url], groups={"base": data.GROUPS_DN, "strategies": ["member_of"], "nested": False}),
        "alice",
        canonical=CANONICAL,
    )
    assert result["ok"] is True and result["preview"] is None
    assert {group["strategy"] for group in result["groups"]} == {"member_of"}
    assert "developers" in {group["name"] for group in result["groups"]}


def test_an_invalid_configuration_is_a_structured_error_naming_the_keys(slapd):
    result = providerdiag.test_connection(
        {"id": "corp", "type": "ldap", "servers": ["http://x"], "user": {"base": data.PEOPLE_DN}, "colour": 1}
    )
    assert result["ok"] is False and result["error"] == "invalid_config"
    fields = {problem["field"] for problem in result["problems"]}
    assert {"provider.servers[0]", "provider.colour"} <= fields
    assert providerdiag.test_connection("not a mapping")["error"] == "invalid_config"
    assert providerdiag.show_groups({"id": "l", "type": "local"}, "alice")["error"] == "not_offered"


def test_group_exists_by_name_and_by_dn(slapd):
    options = load_section(LdapProviderSchema, config([slapd.url]), "test", "provider")
    options.pop("id"), options.pop("type")
    provider = LdapProvider("corp", ldap_settings(options), CANONICAL)
    try:
        assert provider.group_exists("developers") is True
        assert provider.group_exists("Developers") is True  # cn compares ignoring case
        assert provider.group_exists(data.STAFF_DN) is True
        assert provider.group_exists(data.SPECIAL_GROUP_CN) is True  # filter-escaped
        assert provider.group_exists("develpoers") is False
        assert provider.group_exists(f"cn=nope,{data.GROUPS_DN}") is False
        assert provider.group_exists("*") is False
    finally:
        provider.close()


def test_a_long_failover_list_of_hung_servers_stays_within_the_time_budget():
    hung = [BlackholeServer.start() for _ in range(4)]
    try:
        started = time.monotonic()
        result = providerdiag.test_connection(
            config(
                [server.url for server in hung],
                connect_timeout_seconds=0.5,
                operation_timeout_seconds=1,
                login_timeout_seconds=0.5,
            )
        )
        took = time.monotonic() - started
    finally:
        for server in hung:
            server.stop()
    # The budget is a login's (0.5 + 0.5 + 1 s); the server under way when it ran out finishes.
    assert took < 6, took
    last = result["servers"][-1]
    assert last["steps"][0]["step"] == "skipped" and "time budget" in last["steps"][0]["detail"]
    assert result["ok"] is False
