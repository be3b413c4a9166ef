"""The LDAP provider's pure parts: escaping, account state, group resolution, configuration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from gateway.config.errors import ConfigError
from gateway.config.file import parse_config
from providers.ldap import accountstate
from providers.ldap.config import ldap_settings
from providers.ldap.entries import Entry, dn_with, filter_with, rdn_value
from providers.ldap.groups import BATCH, NestingCache, group_names, resolve_groups
from providers.ldap.settings import GroupSettings

# --- escaping -------------------------------------------------------------------------------

FILTER_CASES = [
    ("alice", "(uid=alice)"),
    ("*", r"(uid=\2a)"),
    ("a*", r"(uid=a\2a)"),
    ("*)(uid=*", r"(uid=\2a\29\28uid=\2a)"),
    ("x)(objectClass=*", r"(uid=x\29\28objectClass=\2a)"),
    ("a,ou=admins", "(uid=a,ou=admins)"),
    ("nul\x00byte", r"(uid=nul\00byte)"),
    ("#lead", "(uid=#lead)"),
    ("back\\slash", r"(uid=back\5cslash)"),
    (r"\2a", r"(uid=\5c2a)"),  # an already-escaped-looking value is escaped again, once
]


@pytest.mark.parametrize("typed, expected", FILTER_CASES)
def test_filter_values_are_escaped_exactly_once(typed, expected):
    assert filter_with("(uid={username})", username=typed) == expected


DN_CASES = [
    ("alice", "uid=alice,ou=people"),
    ("a,ou=admins", r"uid=a\,ou\=admins,ou=people"),
    ("#lead", r"uid=\#lead,ou=people"),
    (" pad ", r"uid=\ pad\ ,ou=people"),
    ("nul\x00", r"uid=nul\00,ou=people"),
    ('q"+<>;', r"uid=q\"\+\<\>\;,ou=people"),
    ("*", "uid=*,ou=people"),
]


@pytest.mark.parametrize("typed, expected", DN_CASES)
def test_dn_template_values_are_rdn_escaped(typed, expected):
    assert dn_with("uid={username},ou=people", typed) == expected


def test_dn_template_refuses_an_empty_username():
    with pytest.raises(ValueError):
        dn_with("uid={username},ou=people", "")


@pytest.mark.parametrize(
    "dn, attribute, expected",
    [
        ("cn=developers,ou=groups,dc=x", "cn", "developers"),
        ("CN=Developers,OU=Groups,DC=x", "cn", "Developers"),
        (r"cn=Smith\, John (ops)*,ou=people,dc=x", "cn", "Smith, John (ops)*"),
        (r"cn=\#Hash\+Plus \"Q\" \\Back,ou=people,dc=x", "cn", '#Hash+Plus "Q" \\Back'),
        (r"cn=caf\C3\A9,ou=x", "cn", "café"),
        ("uid=alice,ou=people", "cn", None),
        ("not a dn", "cn", None),
    ],
)
def test_short_names_come_from_the_first_rdn(dn, attribute, expected):
    assert rdn_value(dn, attribute) == expected


def test_object_guid_is_formatted_as_a_uuid():
    guid = uuid.uuid4()
    entry = Entry("cn=x", {"objectguid": [guid.bytes_le], "cn": [b"x"]})
    assert entry.first("objectGUID") == str(guid)
    assert entry.first("CN") == "x"
    assert entry.values("missing") == [] and entry.first(None) is None


# --- account state --------------------------------------------------------------------------

NOW = datetime(2026, 11, 22, tzinfo=UTC)
PAST_FILETIME = "130000000000000000"  # 2012
FUTURE_FILETIME = "150000000000000000"  # 2076


def _entry(**attributes):
    return Entry("cn=u", {k.lower(): [str(v).encode()] for k, v in attributes.items()})


@pytest.mark.parametrize(
    "attributes, expected",
    [
        ({"userAccountControl": 512}, None),
        ({"userAccountControl": 514}, "account disabled"),
        ({"userAccountControl": 512 | 0x10}, "account locked"),
        ({"userAccountControl": 512, "accountExpires": PAST_FILETIME}, "account expired"),
        ({"userAccountControl": 512, "accountExpires": FUTURE_FILETIME}, None),
        ({"userAccountControl": 512, "accountExpires": "0"}, None),
        ({"userAccountControl": 512, "accountExpires": str(2**63 - 1)}, None),
        ({"userAccountControl": 512, "lockoutTime": "0"}, None),
        ({"userAccountControl": 512, "lockoutTime": "133000000000000000"}, "account locked"),
        ({"userAccountControl": "garbage"}, None),
        ({}, None),
    ],
)
def test_active_directory_account_state(attributes, expected):
    assert accountstate.refusal("active_directory", _entry(**attributes), now=lambda: NOW) == expected


def test_openldap_account_state_and_none():
    assert (
        accountstate.refusal("openldap", _entry(pwdAccountLockedTime="20260101000000Z")) == "account locked"
    )
    assert accountstate.refusal("openldap", _entry()) is None
    assert accountstate.refusal("none", _entry(userAccountControl=514)) is None


@pytest.mark.parametrize(
    "message, expected",
    [
        ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 52e, v4563", None),
        (
            "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 533, v4563",
            "account disabled",
        ),
        ("... data 701, v893", "account expired"),
        ("... data 775, v893", None),  # AD says "locked" whatever the password: no 403 for it
        ("... data 532, v893", "password expired"),
        ("", None),
        (None, None),
    ],
)
def test_active_directory_bind_diagnostics(message, expected):
    assert accountstate.bind_refusal("active_directory", message) == expected
    assert accountstate.bind_refusal("openldap", message) is None


# --- groups ---------------------------------------------------------------------------------


class FakeDirectory:
    """Groups as {dn: (cn, [member dns])}; answers member-filter searches, counting them."""

    def __init__(self, groups):
        self.groups = groups
        self.searches = []

    def search(self, base, scope, search_filter, attributes):
        self.searches.append(search_filter)
        if scope == "base":
            cn = self.groups.get(base, ("?",))[0]
            return [Entry(base, {"cn": [cn.encode()]})]
        wanted = {part.rstrip(")") for part in search_filter.split("(member=")[1:]}
        return [
            Entry(dn, {"cn": [cn.encode()]})
            for dn, (cn, members) in self.groups.items()
            if wanted & set(members)
        ]


USER = "uid=u,ou=people"


def _groups(tree):
    return {
        f"cn={name},ou=groups": (name, [m if m.startswith("uid=") else f"cn={m},ou=groups" for m in members])
        for name, members in tree.items()
    }


SETTINGS = GroupSettings(strategies=("member",), base="ou=groups", member_filter="(member={dn})")


def test_nested_groups_are_found_level_by_level_and_cycles_end():
    directory = FakeDirectory(
        _groups(
            {
                "devs": [USER],
                "eng": ["devs"],
                "staff": ["eng"],
                "cycle-a": ["cycle-b", USER],
                "cycle-b": ["cycle-a"],
            }
        )
    )
    groups = resolve_groups(SETTINGS, Entry(USER, {}), None, directory.search)
    by_name = {g.name: g for g in groups}
    assert set(by_name) == {"devs", "eng", "staff", "cycle-a", "cycle-b"}
    assert (by_name["devs"].depth, by_name["eng"].depth, by_name["staff"].depth) == (0, 1, 2)
    # one search for direct groups, then one per level (all of a level batched together)
    assert len(directory.searches) == 1 + 3


def test_depth_limit_stops_the_walk():
    chain = {"g0": [USER], **{f"g{i}": [f"g{i - 1}"] for i in range(1, 20)}}
    directory = FakeDirectory(_groups(chain))
    settings = GroupSettings(
        strategies=("member",), base="ou=groups", member_filter="(member={dn})", max_depth=5
    )
    groups = resolve_groups(settings, Entry(USER, {}), None, directory.search)
    assert [g.name for g in groups] == [f"g{i}" for i in range(6)]


def test_many_groups_are_batched_and_paths_recorded_on_request():
    tree = {f"t{i}": [USER] for i in range(BATCH * 2 + 1)}
    tree["all"] = [f"t{i}" for i in range(BATCH * 2 + 1)]
    directory = FakeDirectory(_groups(tree))
    groups = resolve_groups(SETTINGS, Entry(USER, {}), None, directory.search)
    assert len(groups) == BATCH * 2 + 2
    assert len(directory.searches) == 1 + 3 + 1  # direct, three batches, an empty level
    traced = FakeDirectory(_groups({"devs": [USER], "eng": ["devs"]}))
    eng = [
        g
        for g in resolve_groups(SETTINGS, Entry(USER, {}), None, traced.search, record_paths=True)
        if g.name == "eng"
    ][0]
    assert eng.via == "cn=devs,ou=groups" and eng.found_by == "nested"


def test_the_nesting_cache_spares_the_walk_for_the_same_direct_groups():
    now = [0.0]
    cache = NestingCache(ttl=60, max_entries=2, clock=lambda: now[0])
    directory = FakeDirectory(_groups({"devs": [USER], "eng": ["devs"], "staff": ["eng"]}))
    first = resolve_groups(SETTINGS, Entry(USER, {}), None, directory.search, cache=cache)
    searches = len(directory.searches)
    again = resolve_groups(SETTINGS, Entry(USER, {}), None, directory.search, cache=cache)
    assert again == first and len(directory.searches) == searches + 1  # only the direct search
    resolve_groups(SETTINGS, Entry(USER, {}), None, directory.search, record_paths=True, cache=cache)
    assert len(directory.searches) > searches + 2  # a trace walks for real
    now[0] = 61.0  # expired
    resolve_groups(SETTINGS, Entry(USER, {}), None, directory.search, cache=cache)
    assert len(directory.searches) > searches + 5
    for key in ("a", "b", "c"):  # bounded
        cache.put(frozenset({key}), [])
    assert cache.get(frozenset({"a"})) is None and cache.get(frozenset({"c"})) == []


def test_member_of_names_come_from_the_dn_or_a_read():
    directory = FakeDirectory(_groups({"eng": ["devs"], "devs": []}))
    directory.groups["uid=odd,ou=groups"] = ("odd-name", [])
    user = Entry(USER, {"memberof": [b"cn=devs,ou=groups", b"uid=odd,ou=groups"]})
    settings = GroupSettings(strategies=("member_of",), base="ou=groups", member_filter="(member={dn})")
    groups = resolve_groups(settings, user, None, directory.search)
    assert {g.name for g in groups} == {"devs", "odd-name", "eng"}
    assert group_names(groups)[:2] == ("devs", "cn=devs,ou=groups")


def test_in_chain_groups_are_not_walked_again():
    directory = FakeDirectory({})
    directory.search = lambda base, scope, f, attrs: (  # type: ignore[method-assign]
        [Entry("cn=a,ou=g", {"cn": [b"a"]}), Entry("cn=b,ou=g", {"cn": [b"b"]})] if "1941" in f else []
    )
    settings = GroupSettings(strategies=("in_chain",), base="ou=g")
    assert [g.name for g in resolve_groups(settings, Entry(USER, {}), None, directory.search)] == ["a", "b"]


# --- configuration --------------------------------------------------------------------------


def _config(**ldap):
    provider = {
        "id": "corp",
        "type": "ldap",
        "servers": ["ldap://127.0.0.1:389"],
        "user": {"base": "ou=people,dc=x"},
        "groups": {"base": "ou=groups,dc=x"},
        **ldap,
    }
    return parse_config({"providers": [{"id": "local", "type": "local"}, provider]}, "test.yaml")


def test_presets_fill_what_is_not_configured():
    config = _config(preset="active_directory")
    settings = ldap_settings(dict(config.providers[1].options))
    assert settings.user.username_attribute == "sAMAccountName"
    assert settings.groups.strategies == ("in_chain",)
    assert settings.account_state == "active_directory"
    assert settings.user.base == "ou=people,dc=x"
    overridden = ldap_settings(
        dict(
            _config(preset="openldap", user={"base": "ou=p", "filter": "(cn={username})"})
            .providers[1]
            .options
        )
    )
    assert overridden.user.filter == "(cn={username})" and overridden.user.username_attribute == "uid"
    assert overridden.time_budget == 16


@pytest.mark.parametrize(
    "change, key",
    [
        ({"servers": ["http://x"]}, "providers[1].servers[0]"),
        ({"servers": []}, "providers[1].servers"),
        ({"user": {"base": "x", "filter": "(uid=alice)"}}, "providers[1].user.filter"),
        ({"user": {"base": "x", "filter": "uid={username}"}}, "providers[1].user.filter"),
        ({"user": {"base": "x", "dn_template": "uid=x"}}, "providers[1].user.dn_template"),
        ({"user": {"base": "x", "quota_attribute": "bad name!"}}, "providers[1].user.quota_attribute"),
        ({"groups": {"strategies": ["member"]}}, "providers[1].groups.base"),
        ({"groups": {"base": "x", "strategies": ["everything"]}}, "providers[1].groups.strategies[0]"),
        ({"tls": {"ca_file": "/nonexistent/ca.pem"}}, "providers[1].tls.ca_file"),
        ({"preset": "novell"}, "providers[1].preset"),
        ({"bind": {"dn": "cn=svc"}}, "providers[1].bind.password"),
        (
            {"login_timeout_seconds": 59, "operation_timeout_seconds": 30},
            "providers[1].login_timeout_seconds",
        ),
        ({"servers": ["ldaps://x"], "start_tls": True}, "providers[1].start_tls"),
        ({"colour": "blue"}, "providers[1].colour"),
        ({"preset": "openldap", "user": "x"}, "providers[1].user"),
        ({"preset": "openldap", "groups": ["a"]}, "providers[1].groups"),
        ({"user": {"base": "x", "dn_template": "{username}@corp.example"}}, "providers[1].user.dn_template"),
    ],
)
def test_configuration_errors_name_the_key(change, key):
    with pytest.raises(ConfigError) as caught:
        _config(**change)
    assert caught.value.key == key, caught.value
