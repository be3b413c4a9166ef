"""Pure unit tests (no sockets) for gateway.mapping.policy.parse_policy."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway.config.errors import ConfigError
from gateway.mapping import UNLIMITED, Policy, parse_policy

PILOTS = {"name": "pilots", "match": {"group": "drone-pilots"}, "roles": ["pilot"]}


def with_rule(**changes: Any) -> dict[str, Any]:
    """A policy whose only rule is PILOTS with ``changes`` applied (a value of None deletes)."""
    rule = copy.deepcopy(PILOTS)
    for key, value in changes.items():
        if value is None:
            rule.pop(key, None)
        else:
            rule[key] = value
    return {"rules": [rule]}


def with_match(**match: Any) -> dict[str, Any]:
    return with_rule(match=match)


def test_absent_section_gives_defaults() -> None:
    assert parse_policy(None, "c.yaml") == Policy((), UNLIMITED, ("email",), ())


def test_full_example_parses() -> None:
    policy = parse_policy(
        {
            "default_roles": ["user"],
            "default_maxStorageMB": 1024,
            "expose": ["email", "displayName", "department", "email"],
            "rules": [
                {
                    "name": "pilots",
                    "match": {
                        "provider": "corp-ldap",
                        "group": "drone-pilots",
                        "group_glob": "drone-*",
                        "username": "alice",
                        "username_glob": "ext-*",
                        "attribute": {"department": ["Engineering", 7, True]},
                        "case_insensitive": True,
                    },
                    "roles": ["pilot"],
                    "maxStorageMB": 51200,
                    "metadata": {"team": "pilots", "n": 1, "b": False},
                },
                {"name": "admins", "match": {"all": True}, "maxStorageMB": "unlimited"},
                {"name": "staff-only", "require": {"group": ["staff", "drone-admins"]}},
            ],
        },
        "c.yaml",
    )
    assert policy.default_roles == ("user",)
    assert policy.default_max_storage_mb == 1024
    assert policy.expose == ("email", "displayName", "department")  # duplicates dropped
    pilots, admins, staff = policy.rules
    assert (pilots.kind, pilots.roles, pilots.max_storage_mb) == ("grant", ("pilot",), 51200)
    assert dict(pilots.metadata) == {"team": "pilots", "n": 1, "b": False}
    assert [c.kind for c in pilots.condition.checks] == [
        "provider",
        "group",
        "group_glob",
        "username",
        "username_glob",
        "attribute",
    ]
    provider, group = pilots.condition.checks[:2]
    assert provider.case_insensitive is False  # provider ids are never casefolded
    assert group.case_insensitive is True
    assert pilots.condition.checks[-1].values == ("Engineering", "7", "True")
    assert admins.condition.everyone and admins.max_storage_mb == UNLIMITED
    assert staff.kind == "require" and staff.roles == () and staff.max_storage_mb is None


def test_policy_is_frozen() -> None:
    policy = parse_policy(with_rule(), "c.yaml")
    with pytest.raises(AttributeError):
        policy.rules = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.rules[0].metadata["x"] = 1  # type: ignore[index]


def test_error_carries_source() -> None:
    with pytest.raises(ConfigError) as err:
        parse_policy({"bogus": 1}, "/etc/gw.yaml")
    assert err.value.source == "/etc/gw.yaml"
    assert str(err.value).startswith("/etc/gw.yaml: mapping.bogus: unknown key")


R0 = "mapping.rules[0]"

INVALID = [
    # (id, data, key, substring of message)
    ("not-a-mapping", ["rules"], "mapping", "must be a mapping"),
    ("unknown-top-key", {"rule": []}, "mapping.rule", "unknown key"),
    ("default-roles-not-list", {"default_roles": "user"}, "mapping.default_roles", "must be a list"),
    (
        "default-role-bad-name",
        {"default_roles": ["user", "bad role"]},
        "mapping.default_roles[1]",
        "role name",
    ),
    (
        "default-quota-float",
        {"default_maxStorageMB": 1.0},
        "mapping.default_maxStorageMB",
        "non-negative integer",
    ),
    (
        "default-quota-null",
        {"default_maxStorageMB": None},
        "mapping.default_maxStorageMB",
        "non-negative integer",
    ),
    ("expose-not-list", {"expose": "email"}, "mapping.expose", "must be a list"),
    ("expose-username", {"expose": ["email", "username"]}, "mapping.expose[1]", "cannot be exposed"),
    ("expose-roles", {"expose": ["roles"]}, "mapping.expose[0]", "cannot be exposed"),
    ("expose-quota", {"expose": ["maxStorageMB"]}, "mapping.expose[0]", "cannot be exposed"),
    ("expose-empty-name", {"expose": [""]}, "mapping.expose[0]", "attribute name"),
    ("expose-non-string", {"expose": [3]}, "mapping.expose[0]", "attribute name"),
    ("rules-not-list", {"rules": {"name": "x"}}, "mapping.rules", "must be a list"),
    ("rules-null", {"rules": None}, "mapping.rules", "must be a list"),
    ("rule-not-mapping", {"rules": ["pilots"]}, R0, "must be a mapping"),
    ("rule-unknown-key", with_rule(role=["x"]), f"{R0}.role", "unknown key"),
    ("rule-name-missing", with_rule(name=None), f"{R0}.name", "is required"),
    ("rule-name-bad-chars", with_rule(name="my rule"), f"{R0}.name", "letters, digits"),
    ("rule-name-too-long", with_rule(name="x" * 65), f"{R0}.name", "1-64"),
    ("rule-name-not-string", with_rule(name=5), f"{R0}.name", "1-64"),
    (
        "rule-name-duplicate",
        {"rules": [PILOTS, {**PILOTS, "roles": ["x"]}]},
        "mapping.rules[1].name",
        "duplicate rule name 'pilots'",
    ),
    ("both-match-and-require", with_rule(require={"group": "staff"}), R0, "both match and require"),
    ("neither-match-nor-require", with_rule(match=None), R0, "needs match"),
    (
        "match-without-grant",
        with_rule(roles=None),
        R0,
        "must grant roles, maxStorageMB, metadata or organizations",
    ),
    ("match-empty-grants-only", with_rule(roles=[], metadata={}), R0, "must grant"),
    (
        "require-with-roles",
        {"rules": [{"name": "r", "require": {"all": True}, "roles": ["x"]}]},
        f"{R0}.roles",
        "require rule grants nothing",
    ),
    (
        "require-with-quota",
        {"rules": [{"name": "r", "require": {"all": True}, "maxStorageMB": 1}]},
        f"{R0}.maxStorageMB",
        "require rule grants nothing",
    ),
    ("empty-match", with_match(), f"{R0}.match", "needs at least one"),
    ("match-only-case-flag", with_match(case_insensitive=True), f"{R0}.match", "needs at least one"),
    ("match-not-mapping", with_rule(match="everyone"), f"{R0}.match", "must be a mapping"),
    ("empty-require", {"rules": [{"name": "r", "require": {}}]}, f"{R0}.require", "needs at least one"),
    ("condition-typo", with_match(grop="x"), f"{R0}.match.grop", "unknown key"),
    (
        "require-condition-typo",
        {"rules": [{"name": "r", "require": {"groups": "x"}}]},
        f"{R0}.require.groups",
        "unknown key",
    ),
    ("all-false", with_match(all=False), f"{R0}.match.all", "must be true"),
    ("all-string", with_match(all="yes"), f"{R0}.match.all", "must be true"),
    ("all-with-others", with_match(all=True, group="g"), f"{R0}.match.group", "cannot be combined"),
    (
        "case-flag-not-bool",
        with_match(group="g", case_insensitive="yes"),
        f"{R0}.match.case_insensitive",
        "true or false",
    ),
    ("group-empty-string", with_match(group=""), f"{R0}.match.group", "non-empty string"),
    ("group-empty-list", with_match(group=[]), f"{R0}.match.group", "empty list"),
    ("group-list-bad-item", with_match(group=["a", 3]), f"{R0}.match.group[1]", "non-empty string"),
    ("group-mapping", with_match(group={"a": 1}), f"{R0}.match.group", "must be a list"),
    ("glob-null", with_match(group_glob=None), f"{R0}.match.group_glob", "must be a list"),
    ("provider-int", with_match(provider=1), f"{R0}.match.provider", "must be a list"),
    (
        "username-glob-bad-item",
        with_match(username_glob=["ok", None]),
        f"{R0}.match.username_glob[1]",
        "non-empty string",
    ),
    (
        "attribute-not-mapping",
        with_match(attribute="department"),
        f"{R0}.match.attribute",
        "must be a mapping",
    ),
    ("attribute-empty", with_match(attribute={}), f"{R0}.match.attribute", "at least one attribute"),
    (
        "attribute-float",
        with_match(attribute={"level": 1.5}),
        f"{R0}.match.attribute.level",
        "string, integer",
    ),
    (
        "attribute-null",
        with_match(attribute={"level": None}),
        f"{R0}.match.attribute.level",
        "string, integer",
    ),
    (
        "attribute-empty-list",
        with_match(attribute={"level": []}),
        f"{R0}.match.attribute.level",
        "empty list",
    ),
    (
        "attribute-list-bad-item",
        with_match(attribute={"level": ["a", {"b": 1}]}),
        f"{R0}.match.attribute.level[1]",
        "string, integer",
    ),
    ("roles-not-list", with_rule(roles="pilot"), f"{R0}.roles", "must be a list"),
    ("role-space", with_rule(roles=["pilot", "drone pilot"]), f"{R0}.roles[1]", "role name"),
    ("role-empty", with_rule(roles=[""]), f"{R0}.roles[0]", "role name"),
    ("role-too-long", with_rule(roles=["r" * 65]), f"{R0}.roles[0]", "1-64"),
    ("role-non-ascii", with_rule(roles=["pilöt"]), f"{R0}.roles[0]", "role name"),
    ("role-comma", with_rule(roles=["admin,user"]), f"{R0}.roles[0]", "role name"),
    ("role-int", with_rule(roles=[1]), f"{R0}.roles[0]", "role name"),
    ("role-trailing-newline", with_rule(roles=["pilot\n"]), f"{R0}.roles[0]", "role name"),
    ("quota-float", with_rule(maxStorageMB=51200.0), f"{R0}.maxStorageMB", "non-negative integer"),
    ("quota-digit-string", with_rule(maxStorageMB="51200"), f"{R0}.maxStorageMB", "non-negative integer"),
    ("quota-bool-true", with_rule(maxStorageMB=True), f"{R0}.maxStorageMB", "non-negative integer"),
    ("quota-bool-false", with_rule(maxStorageMB=False), f"{R0}.maxStorageMB", "non-negative integer"),
    ("quota-negative", with_rule(maxStorageMB=-1), f"{R0}.maxStorageMB", "non-negative integer"),
    ("quota-too-big", with_rule(maxStorageMB=2**63), f"{R0}.maxStorageMB", "at most"),
    ("quota-unlimited-typo", with_rule(maxStorageMB="unlimted"), f"{R0}.maxStorageMB", '"unlimited"'),
    ("metadata-not-mapping", with_rule(metadata=["team"]), f"{R0}.metadata", "must be a mapping"),
    (
        "metadata-username",
        with_rule(metadata={"username": "x"}),
        f"{R0}.metadata.username",
        "set by the gateway",
    ),
    ("metadata-roles", with_rule(metadata={"roles": "admin"}), f"{R0}.metadata.roles", "set by the gateway"),
    (
        "metadata-quota",
        with_rule(metadata={"maxStorageMB": 1}),
        f"{R0}.metadata.maxStorageMB",
        "set by the gateway",
    ),
    (
        "metadata-float",
        with_rule(metadata={"ratio": 0.5}),
        f"{R0}.metadata.ratio",
        "string, integer or boolean",
    ),
    (
        "metadata-null",
        with_rule(metadata={"team": None}),
        f"{R0}.metadata.team",
        "string, integer or boolean",
    ),
    (
        "metadata-list",
        with_rule(metadata={"teams": ["a"]}),
        f"{R0}.metadata.teams",
        "string, integer or boolean",
    ),
    ("metadata-empty-key", with_rule(metadata={"": "x"}), f"{R0}.metadata.", "non-empty"),
    ("metadata-int-key", with_rule(metadata={1: "x"}), f"{R0}.metadata.1", "keys must be strings"),
    (
        "error-in-later-rule",
        {"rules": [PILOTS, {"name": "b", "match": {"all": True}, "maxStorageMB": 1.5}]},
        "mapping.rules[1].maxStorageMB",
        "non-negative integer",
    ),
    (
        "error-in-third-rule",
        {"rules": [PILOTS, {**PILOTS, "name": "b"}, {**PILOTS, "name": "c", "oops": 1}]},
        "mapping.rules[2].oops",
        "unknown key",
    ),
]


@pytest.mark.parametrize("data, key, message", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_policy(data: Any, key: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_policy(data, "c.yaml")
    assert err.value.key == key
    assert message in err.value.message


VALID = [
    ("empty-section", {}),
    ("quota-zero", with_rule(maxStorageMB=0)),
    ("quota-unlimited", with_rule(maxStorageMB="unlimited")),
    ("quota-only-grant", with_rule(roles=None, maxStorageMB=10)),
    ("metadata-only-grant", with_rule(roles=None, metadata={"team": "a", "flag": True, "n": 0})),
    ("role-all-allowed-chars", with_rule(roles=["a-Z_0.9@x+y", "r" * 64])),
    ("rule-name-all-allowed-chars", with_rule(name="Rule_1.x-" + "y" * 55)),
    ("attribute-empty-string-value", with_match(attribute={"x": ""})),
    ("all-with-case-flag", with_match(all=True, case_insensitive=False)),
    ("odd-glob", with_match(group_glob=["[", "[!a-", "*[]]*"])),
    ("tuples-accepted", {"default_roles": ("user",), "rules": (PILOTS,)}),
]


@pytest.mark.parametrize("data", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_policy(data: Any) -> None:
    assert isinstance(parse_policy(data, "c.yaml"), Policy)


def test_parse_does_not_keep_references_to_input() -> None:
    data = with_rule(metadata={"team": "a"})
    policy = parse_policy(data, "c.yaml")
    data["rules"][0]["metadata"]["team"] = "changed"
    data["rules"][0]["roles"].append("extra")
    assert dict(policy.rules[0].metadata) == {"team": "a"}
    assert policy.rules[0].roles == ("pilot",)
