"""The pure parts of reading a whole directory: filter templates split for bulk reading, DN
comparison, and the in-memory group graph (nesting, cycles, depth, in-chain, names)."""

from __future__ import annotations

import pytest

from providers.ldap.entries import Entry
from providers.ldap.filtertemplates import Assertion, UnsupportedTemplate, split_template
from providers.ldap.membership import PLACEHOLDERS, GroupGraph, dn_key
from providers.ldap.settings import PRESETS, GroupSettings

GROUPS = "ou=groups,dc=example,dc=test"


@pytest.mark.parametrize(
    "template, placeholders, every, assertions",
    [
        ("(member={dn})", ("dn",), "(member=*)", [Assertion("member", "dn")]),
        ("member={dn}", ("dn",), "(member=*)", [Assertion("member", "dn")]),
        (
            "(|(member={dn})(uniqueMember={dn}))",
            ("dn",),
            "(|(member=*)(uniqueMember=*))",
            [Assertion("member", "dn"), Assertion("uniqueMember", "dn")],
        ),
        (
            "(&(objectClass=posixGroup)(memberUid={uid}))",
            ("uid",),
            "(&(objectClass=posixGroup)(memberUid=*))",
            [Assertion("memberUid", "uid")],
        ),
        (
            "(&(objectCategory=person)(&(objectClass=user)(sAMAccountName={username})))",
            ("username",),
            "(&(objectCategory=person)(objectClass=user)(sAMAccountName=*))",
            [Assertion("sAMAccountName", "username")],
        ),
        (
            "(member:1.2.840.113556.1.4.1941:={dn})",
            ("dn",),
            "(member=*)",
            [Assertion("member", "dn", chain=True)],
        ),
        (
            "(&(!(cn=hidden))(|(uid={username})(mail={username})))",
            ("username",),
            "(&(!(cn=hidden))(|(uid=*)(mail=*)))",
            [Assertion("uid", "username"), Assertion("mail", "username")],
        ),
    ],
)
def test_templates_split_into_a_server_filter_and_assertions(template, placeholders, every, assertions):
    split = split_template(template, placeholders)
    assert split.every_filter == every
    assert list(split.assertions) == assertions


def test_every_preset_and_default_template_can_be_read_in_bulk():
    defaults = GroupSettings()
    for template, placeholder in (
        (defaults.member_filter, "dn"),
        (defaults.member_uid_filter, "uid"),
        (defaults.in_chain_filter, "dn"),
        *(
            (preset["groups"]["member_filter"], "dn")
            for preset in PRESETS.values()
            if "member_filter" in preset["groups"]
        ),
        *((preset["user"]["filter"], "username") for preset in PRESETS.values()),
    ):
        assert split_template(template, (placeholder,)).assertions


@pytest.mark.parametrize(
    "template",
    [
        "(|(member={dn})(cn=everyone))",  # a fixed condition ORed with the placeholder
        "(!(member={dn}))",
        "(&(member={dn})(owner={dn}))",  # placeholders in two AND branches
        "(member=x{dn})",
        "(member>={dn})",
        "(member:caseExactMatch:={dn})",
        "(cn=everyone)",  # no placeholder at all
        "(member={dn}",
    ],
)
def test_shapes_that_cannot_be_split_exactly_are_refused(template):
    with pytest.raises(UnsupportedTemplate):
        split_template(template, ("dn",))


def test_dns_compare_as_the_server_compares_them():
    assert dn_key("UID=Alice, OU=People,dc=Example,dc=test") == dn_key(
        "uid=alice,ou=people,dc=example,dc=test"
    )
    assert dn_key(r"cn=Smith\, John,ou=people") == dn_key(r"cn=smith\2c john,ou=people")
    assert dn_key("cn=a,ou=x") != dn_key("cn=b,ou=x")


def group(cn: str, **attributes: list[str]) -> Entry:
    return Entry(
        f"cn={cn},{GROUPS}",
        {"cn": [cn.encode()], **{k.lower(): [v.encode() for v in vs] for k, vs in attributes.items()}},
    )


def graph_of(settings: GroupSettings, *groups: Entry) -> GroupGraph:
    strategies = {"member": "member_filter", "member_uid": "member_uid_filter", "in_chain": "in_chain_filter"}
    templates = {
        strategy: split_template(getattr(settings, field), PLACEHOLDERS[strategy])
        for strategy, field in strategies.items()
        if strategy in settings.strategies or (strategy == "member" and settings.nested)
    }
    graph = GroupGraph(settings, templates)
    for entry in groups:
        for strategy in templates:
            graph.add(strategy, entry)
    return graph


def names(groups) -> set[str | None]:
    return {g.name for g in groups}


USER = Entry("uid=ann,ou=people,dc=example,dc=test", {"uid": [b"ann"]})
CHAIN = [
    group("a", member=[USER.dn]),
    group("b", member=[f"cn=a,{GROUPS}"]),
    group("c", member=[f"cn=b,{GROUPS}"]),
    group("d", member=[f"cn=c,{GROUPS}", f"cn=e,{GROUPS}"]),
    group("e", member=[f"cn=d,{GROUPS}"]),  # d and e: a cycle
]


def test_nesting_is_walked_up_to_max_depth_and_ends_on_cycles():
    settings = GroupSettings(base=GROUPS)
    assert names(graph_of(settings, *CHAIN).resolve(USER, "ann", lambda dn: None)) == {
        "a",
        "b",
        "c",
        "d",
        "e",
    }
    shallow = GroupSettings(base=GROUPS, max_depth=2)
    resolved = graph_of(shallow, *CHAIN).resolve(USER, "ann", lambda dn: None)
    assert {(g.name, g.depth) for g in resolved} == {("a", 0), ("b", 1), ("c", 2)}
    flat = GroupSettings(base=GROUPS, nested=False)
    assert names(graph_of(flat, *CHAIN).resolve(USER, "ann", lambda dn: None)) == {"a"}


def test_in_chain_is_transitive_without_a_depth_limit():
    settings = GroupSettings(base=GROUPS, strategies=("in_chain",), nested=False, max_depth=1)
    resolved = graph_of(settings, *CHAIN).resolve(USER, "ann", lambda dn: None)
    assert names(resolved) == {"a", "b", "c", "d", "e"} and {g.found_by for g in resolved} == {"in_chain"}


def test_member_uid_is_matched_exactly():
    settings = GroupSettings(base=GROUPS, strategies=("member_uid",), nested=False)
    ops = group("ops", memberUid=["ann", "Bob"], objectClass=["posixGroup"])
    graph = graph_of(settings, ops)
    assert names(graph.resolve(USER, "ann", lambda dn: None)) == {"ops"}
    assert graph.resolve(USER, "bob", lambda dn: None) == []


def test_member_of_names_come_from_the_rdn_or_one_read_per_group():
    settings = GroupSettings(base=GROUPS, strategies=("member_of",), nested=False)
    reads = []
    outside = "ou=Pilots,ou=elsewhere,dc=example,dc=test"
    user = Entry(USER.dn, {"memberof": [f"cn=a,{GROUPS}".encode(), outside.encode()]})

    def read_name(dn: str) -> str:
        reads.append(dn)
        return "pilots"

    graph = graph_of(settings)
    for _ in range(3):
        assert names(graph.resolve(user, None, read_name)) == {"a", "pilots"}
    assert reads == [outside]  # read once, remembered for every other user
