"""Pure unit tables for rules' ``organizations:``: validation, merging across rules, explain."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.errors import ConfigError
from gateway.login.answer import build_answer
from gateway.mapping import evaluate, format_explanation, parse_policy
from providers.base import Identity

R0 = "mapping.rules[0]"


def rule(organizations: Any, **extra: Any) -> dict[str, Any]:
    return {
        "rules": [{"name": "pilots", "match": {"group": "pilots"}, "organizations": organizations, **extra}]
    }


def alice(*groups: str) -> Identity:
    return Identity(provider="corp", subject="1", username="alice", groups=groups)


PARSED = [
    ("bare-slug-is-read-write", ["pilots"], {"pilots": 1}),
    ("explicit-read-only", [{"slug": "pilots", "permissions": "read-only"}], {"pilots": 0}),
    ("mapping-default-read-write", [{"slug": "pilots"}], {"pilots": 1}),
    ("read-write-delete", [{"slug": "pilots", "permissions": "read-write-delete"}], {"pilots": 2}),
    ("admin", [{"slug": "pilots", "permissions": "admin"}], {"pilots": 3}),
    ("mixed-forms", ["a", {"slug": "b", "permissions": "admin"}], {"a": 1, "b": 3}),
    ("twice-highest-wins", [{"slug": "a", "permissions": "admin"}, "a"], {"a": 3}),
    ("slug-charset", ["a_b-9"], {"a_b-9": 1}),
    ("slug-128", ["x" * 128], {"x" * 128: 1}),
    ("empty-list-with-roles", [], {}),
]


@pytest.mark.parametrize(("case", "organizations", "expected"), PARSED, ids=[c[0] for c in PARSED])
def test_organizations_parse(case, organizations, expected):
    policy = parse_policy(rule(organizations, roles=["pilot"]), "test")
    assert {g.slug: g.level for g in policy.rules[0].organizations} == expected


INVALID = [
    ("not-a-list", "pilots", f"{R0}.organizations", "must be a list"),
    ("upper-case-slug", ["Pilots"], f"{R0}.organizations[0]", "organization slug"),
    ("space-in-slug", ["drone pilots"], f"{R0}.organizations[0]", "organization slug"),
    ("slug-too-long", ["x" * 129], f"{R0}.organizations[0]", "organization slug"),
    ("empty-slug", [""], f"{R0}.organizations[0]", "organization slug"),
    ("number", [3], f"{R0}.organizations[0]", "organization slug"),
    ("mapping-without-slug", [{"permissions": "admin"}], f"{R0}.organizations[0].slug", "is required"),
    ("mapping-bad-slug", [{"slug": "A"}], f"{R0}.organizations[0].slug", "organization slug"),
    (
        "unknown-permission",
        [{"slug": "a", "permissions": "owner"}],
        f"{R0}.organizations[0].permissions",
        "one of",
    ),
    ("numeric-permission", [{"slug": "a", "permissions": 3}], f"{R0}.organizations[0].permissions", "one of"),
    ("unknown-key", [{"slug": "a", "level": "admin"}], f"{R0}.organizations[0].level", "unknown key"),
]


@pytest.mark.parametrize(("case", "organizations", "path", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_organizations_name_the_key(case, organizations, path, message):
    with pytest.raises(ConfigError) as error:
        parse_policy(rule(organizations), "test")
    assert path in str(error.value) and message in str(error.value)


def test_a_require_rule_grants_no_organizations():
    with pytest.raises(ConfigError, match="require rule grants nothing"):
        parse_policy({"rules": [{"name": "r", "require": {"all": True}, "organizations": ["a"]}]}, "t")


def test_organizations_alone_are_a_grant():
    assert parse_policy(rule(["pilots"]), "t").rules[0].roles == ()


def test_an_empty_list_alone_grants_nothing():
    with pytest.raises(ConfigError, match="must grant"):
        parse_policy(rule([]), "t")


MERGED = [
    ("no-match", ("staff",), {}),
    ("one-rule", ("pilots",), {"pilots": 1, "shared": 0}),
    ("highest-level-wins-across-rules", ("pilots", "leads"), {"pilots": 1, "shared": 3, "leads": 2}),
    ("order-of-first-grant", ("leads",), {"shared": 3, "leads": 2}),
]
MERGE_POLICY = {
    "rules": [
        {
            "name": "pilots",
            "match": {"group": "pilots"},
            "organizations": ["pilots", {"slug": "shared", "permissions": "read-only"}],
        },
        {
            "name": "leads",
            "match": {"group": "leads"},
            "organizations": [
                {"slug": "shared", "permissions": "admin"},
                {"slug": "leads", "permissions": "read-write-delete"},
            ],
        },
    ]
}


@pytest.mark.parametrize(("case", "groups", "expected"), MERGED, ids=[c[0] for c in MERGED])
def test_matching_rules_organizations_are_merged(case, groups, expected):
    evaluation = evaluate(parse_policy(MERGE_POLICY, "t"), alice(*groups))
    assert dict(evaluation.organizations) == expected
    assert list(evaluation.organizations) == list(expected)


def test_organizations_stay_out_of_the_answer_and_show_in_the_explanation():
    evaluation = evaluate(parse_policy(MERGE_POLICY, "t"), alice("pilots"))
    answer = build_answer("alice", evaluation)
    assert "organizations" not in answer
    text = format_explanation(evaluation, answer)
    assert "organizations: pilots (read-write), shared (read-only)" in text
    grant = next(step for step in evaluation.trace if step.name == "leads")
    assert "organizations shared (admin), leads (read-write-delete)" in grant.grants


def test_no_organizations_explain_as_none():
    evaluation = evaluate(parse_policy(None, "t"), alice())
    assert evaluation.organizations == {}
    assert "organizations: (none)" in format_explanation(evaluation, {})
