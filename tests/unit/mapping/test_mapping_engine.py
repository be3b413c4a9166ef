"""Pure unit tests (no sockets) for gateway.mapping.engine.evaluate and the explanation text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.login.answer import build_answer
from gateway.mapping import (
    evaluate,
    format_explanation,
    parse_policy,
    validate_overrides,
)
from providers.base import Identity


def ident(
    username: str = "alice",
    provider: str = "corp-ldap",
    groups: tuple[str, ...] = (),
    attributes: dict[str, Any] | None = None,
    email: str | None = None,
    display_name: str | None = None,
) -> Identity:
    return Identity(
        provider=provider,
        subject=f"sub-{username}",
        username=username,
        email=email,
        display_name=display_name,
        groups=groups,
        attributes=attributes or {},
    )


def grant(name: str, roles: list[str] | None = None, **match: Any) -> dict[str, Any]:
    """A match rule granting ``roles`` (default: a role named after the rule)."""
    return {"name": name, "match": match, "roles": roles if roles is not None else [name]}


# The worked example of docs/mapping.md.
README_POLICY = {
    "default_roles": ["user"],
    "rules": [
        {"name": "pilots", "match": {"group": "drone-pilots"}, "roles": ["pilot"], "maxStorageMB": 51200},
        {
            "name": "admins",
            "match": {"group": "drone-admins"},
            "roles": ["admin"],
            "maxStorageMB": "unlimited",
        },
    ],
}


# --- which rules match ----------------------------------------------------------------------


@dataclass
class MatchCase:
    id: str
    match: dict[str, Any]
    identity: Identity
    matched: bool
    why: str = ""  # a substring of the trace's why


MATCH_CASES = [
    MatchCase("provider-exact", {"provider": "corp-ldap"}, ident(), True, "provider 'corp-ldap' matched"),
    MatchCase(
        "provider-other",
        {"provider": "corp-ldap"},
        ident(provider="oidc"),
        False,
        "provider 'oidc' not matched",
    ),
    MatchCase("provider-any-of", {"provider": ["oidc", "corp-ldap"]}, ident(), True),
    MatchCase(
        "provider-never-casefolded", {"provider": "Corp-LDAP", "case_insensitive": True}, ident(), False
    ),
    MatchCase(
        "group-exact",
        {"group": "drone-pilots"},
        ident(groups=("staff", "drone-pilots")),
        True,
        "group 'drone-pilots' matched",
    ),
    MatchCase(
        "group-missing",
        {"group": "drone-pilots"},
        ident(groups=("staff",)),
        False,
        "no group matched ['drone-pilots']",
    ),
    MatchCase("group-no-groups", {"group": "drone-pilots"}, ident(), False),
    MatchCase("group-case-sensitive", {"group": "drone-pilots"}, ident(groups=("Drone-Pilots",)), False),
    MatchCase(
        "group-case-insensitive",
        {"group": "drone-pilots", "case_insensitive": True},
        ident(groups=("DRONE-PILOTS",)),
        True,
        "group 'DRONE-PILOTS' matched (case-insensitive)",
    ),
    MatchCase(
        "group-casefold-sharp-s",
        {"group": "STRASSE", "case_insensitive": True},
        ident(groups=("straße",)),
        True,
    ),
    MatchCase("group-list-any-of", {"group": ["a", "b", "c"]}, ident(groups=("x", "c")), True),
    MatchCase(
        "group-dn",
        {"group": "cn=pilots,ou=groups,dc=example,dc=org"},
        ident(groups=("pilots", "cn=pilots,ou=groups,dc=example,dc=org")),
        True,
    ),
    MatchCase(
        "glob-star",
        {"group_glob": "drone-*"},
        ident(groups=("drone-x",)),
        True,
        "group 'drone-x' matched glob 'drone-*'",
    ),
    MatchCase(
        "glob-no-match",
        {"group_glob": "drone-*"},
        ident(groups=("pilots",)),
        False,
        "no group matched glob ['drone-*']",
    ),
    MatchCase("glob-is-case-sensitive", {"group_glob": "drone-*"}, ident(groups=("DRONE-x",)), False),
    MatchCase(
        "glob-case-insensitive",
        {"group_glob": "drone-*", "case_insensitive": True},
        ident(groups=("DRONE-x",)),
        True,
    ),
    MatchCase("glob-question-and-class", {"group_glob": "team-?[0-9]"}, ident(groups=("team-a7",)), True),
    MatchCase("glob-anchored", {"group_glob": "drone"}, ident(groups=("drone-pilots",)), False),
    MatchCase("glob-slash-is-ordinary", {"group_glob": "a*z"}, ident(groups=("a/b/z",)), True),
    MatchCase("username-exact", {"username": "alice"}, ident(), True, "username 'alice' matched"),
    MatchCase("username-other", {"username": ["bob", "carol"]}, ident(), False),
    MatchCase("username-case-insensitive", {"username": "ALICE", "case_insensitive": True}, ident(), True),
    MatchCase(
        "username-glob",
        {"username_glob": "ext-*"},
        ident("ext-bob"),
        True,
        "username 'ext-bob' matched glob 'ext-*'",
    ),
    MatchCase("username-glob-miss", {"username_glob": "ext-*"}, ident("bob"), False),
    MatchCase(
        "attribute-exact",
        {"attribute": {"department": "Engineering"}},
        ident(attributes={"department": "Engineering"}),
        True,
        "attribute department 'Engineering' matched",
    ),
    MatchCase(
        "attribute-other-value",
        {"attribute": {"department": "Engineering"}},
        ident(attributes={"department": "Sales"}),
        False,
        "no value matched ['Engineering']",
    ),
    MatchCase(
        "attribute-missing",
        {"attribute": {"department": "Engineering"}},
        ident(),
        False,
        "attribute 'department' missing",
    ),
    MatchCase(
        "attribute-case-insensitive",
        {"attribute": {"department": "engineering"}, "case_insensitive": True},
        ident(attributes={"department": "ENGINEERING"}),
        True,
    ),
    MatchCase(
        "attribute-policy-list",
        {"attribute": {"department": ["Sales", "Engineering"]}},
        ident(attributes={"department": "Engineering"}),
        True,
    ),
    MatchCase(
        "attribute-identity-list",
        {"attribute": {"department": "Engineering"}},
        ident(attributes={"department": ["Sales", "Engineering"]}),
        True,
    ),
    MatchCase(
        "attribute-identity-empty-list",
        {"attribute": {"department": "Engineering"}},
        ident(attributes={"department": []}),
        False,
    ),
    MatchCase(
        "attribute-identity-set", {"attribute": {"tags": "b"}}, ident(attributes={"tags": {"a", "b"}}), True
    ),
    MatchCase("attribute-str-forms-int", {"attribute": {"level": 3}}, ident(attributes={"level": "3"}), True),
    MatchCase(
        "attribute-str-forms-bool", {"attribute": {"active": True}}, ident(attributes={"active": True}), True
    ),
    MatchCase("attribute-none-value", {"attribute": {"x": "None"}}, ident(attributes={"x": None}), True),
    MatchCase(
        "attribute-all-keys-anded",
        {"attribute": {"a": "1", "b": "2"}},
        ident(attributes={"a": "1"}),
        False,
        "attribute 'b' missing",
    ),
    MatchCase(
        "keys-anded-all-hold",
        {"provider": "corp-ldap", "group": "g", "username": "alice"},
        ident(groups=("g",)),
        True,
        "provider 'corp-ldap' matched; group 'g' matched; username 'alice' matched",
    ),
    MatchCase(
        "keys-anded-one-fails",
        {"provider": "corp-ldap", "group": "g"},
        ident(groups=("h",)),
        False,
        "no group matched ['g']",
    ),
    MatchCase("all-true", {"all": True}, ident(), True, "matches everyone"),
]


@pytest.mark.parametrize("case", MATCH_CASES, ids=[c.id for c in MATCH_CASES])
def test_condition(case: MatchCase) -> None:
    policy = parse_policy({"rules": [{"name": "r", "match": case.match, "roles": ["granted"]}]}, "t.yaml")
    result = evaluate(policy, case.identity)
    (step,) = [t for t in result.trace if t.kind == "grant"]
    assert step.matched is case.matched
    assert case.why in step.why
    assert ("granted" in result.roles) is case.matched


# --- what the evaluation produces -----------------------------------------------------------


@dataclass
class EvalCase:
    id: str
    policy: dict[str, Any] | None
    identity: Identity
    overrides: Any = None
    roles: tuple[str, ...] = ()
    quota: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    denied: bool = False
    deny_reason: str = ""  # a substring


EVAL_CASES = [
    EvalCase("no-policy", None, ident(email="a@x.org"), metadata={"email": "a@x.org"}),
    EvalCase(
        "readme-pilot", README_POLICY, ident(groups=("drone-pilots",)), roles=("user", "pilot"), quota=51200
    ),
    EvalCase(
        "readme-admin", README_POLICY, ident(groups=("drone-admins",)), roles=("user", "admin"), quota=None
    ),
    EvalCase(
        "readme-both",
        README_POLICY,
        ident(groups=("drone-admins", "drone-pilots")),
        roles=("user", "pilot", "admin"),
        quota=None,
    ),
    EvalCase("readme-nobody", README_POLICY, ident(groups=("staff",)), roles=("user",), quota=None),
    # roles
    EvalCase(
        "roles-rule-order-not-group-order",
        {"rules": [grant("a", group="ga"), grant("b", group="gb")]},
        ident(groups=("gb", "ga")),
        roles=("a", "b"),
    ),
    EvalCase(
        "roles-dedup-keeps-first",
        {
            "default_roles": ["user", "x"],
            "rules": [grant("a", ["x", "pilot", "user"], group="g"), grant("b", ["pilot", "b"], group="g")],
        },
        ident(groups=("g",)),
        overrides={"roles": ["b", "extra", "user"]},
        roles=("user", "x", "pilot", "b", "extra"),
    ),
    EvalCase("roles-non-matching-rule-adds-nothing", {"rules": [grant("a", group="ga")]}, ident(), roles=()),
    EvalCase(
        "roles-override-added-last",
        {"default_roles": ["user"]},
        ident(),
        overrides={"roles": ["admin"]},
        roles=("user", "admin"),
    ),
    # quota
    EvalCase("quota-default-unlimited", {}, ident(), quota=None),
    EvalCase("quota-default-number", {"default_maxStorageMB": 1024}, ident(), quota=1024),
    EvalCase("quota-default-zero", {"default_maxStorageMB": 0}, ident(), quota=0),
    EvalCase(
        "quota-largest-wins",
        {
            "default_maxStorageMB": 100000,
            "rules": [
                {"name": "a", "match": {"all": True}, "maxStorageMB": 10},
                {"name": "b", "match": {"all": True}, "maxStorageMB": 300},
                {"name": "c", "match": {"all": True}, "maxStorageMB": 20},
            ],
        },
        ident(),
        quota=300,
    ),
    EvalCase(
        "quota-rule-beats-larger-default",
        {
            "default_maxStorageMB": 100000,
            "rules": [{"name": "a", "match": {"all": True}, "maxStorageMB": 10}],
        },
        ident(),
        quota=10,
    ),
    EvalCase(
        "quota-unlimited-beats-numbers",
        {
            "default_maxStorageMB": 5,
            "rules": [
                {"name": "a", "match": {"all": True}, "maxStorageMB": 10},
                {"name": "b", "match": {"all": True}, "maxStorageMB": "unlimited"},
                {"name": "c", "match": {"all": True}, "maxStorageMB": 20},
            ],
        },
        ident(),
        quota=None,
    ),
    EvalCase(
        "quota-non-matching-rule-ignored",
        {"default_maxStorageMB": 5, "rules": [{"name": "a", "match": {"group": "g"}, "maxStorageMB": 10}]},
        ident(),
        quota=5,
    ),
    EvalCase(
        "quota-override-wins-smaller",
        README_POLICY,
        ident(groups=("drone-admins",)),
        overrides={"maxStorageMB": 100},
        roles=("user", "admin"),
        quota=100,
    ),
    EvalCase(
        "quota-override-unlimited",
        README_POLICY,
        ident(groups=("drone-pilots",)),
        overrides={"maxStorageMB": "unlimited"},
        roles=("user", "pilot"),
        quota=None,
    ),
    EvalCase(
        "quota-override-zero", {"default_maxStorageMB": 10}, ident(), overrides={"maxStorageMB": 0}, quota=0
    ),
    # metadata and expose
    EvalCase(
        "expose-default-email",
        {},
        ident(email="a@x.org", display_name="Alice"),
        metadata={"email": "a@x.org"},
    ),
    EvalCase(
        "expose-fields-and-attributes",
        {"expose": ["email", "displayName", "dept", "level", "active"]},
        ident(email="a@x.org", display_name="Alice", attributes={"dept": "Eng", "level": 3, "active": False}),
        metadata={"email": "a@x.org", "displayName": "Alice", "dept": "Eng", "level": 3, "active": False},
    ),
    EvalCase(
        "expose-skips-non-scalars",
        {"expose": ["email", "lst", "flt", "none", "dct", "missing"]},
        ident(attributes={"lst": ["a"], "flt": 1.5, "none": None, "dct": {"a": 1}}),
        metadata={},
    ),
    EvalCase("expose-nothing", {"expose": []}, ident(email="a@x.org"), metadata={}),
    EvalCase(
        "metadata-later-rule-overwrites",
        {
            "expose": ["team"],
            "rules": [
                {"name": "a", "match": {"all": True}, "metadata": {"team": "a", "x": 1}},
                {"name": "b", "match": {"all": True}, "metadata": {"team": "b"}},
                {"name": "c", "match": {"group": "nope"}, "metadata": {"team": "c"}},
            ],
        },
        ident(attributes={"team": "from-idp"}),
        metadata={"team": "b", "x": 1},
    ),
    EvalCase(
        "metadata-override-wins",
        {"rules": [{"name": "a", "match": {"all": True}, "metadata": {"team": "a"}}]},
        ident(email="a@x.org"),
        overrides={"team": "mine", "email": "other@x.org", "flag": True},
        metadata={"email": "other@x.org", "team": "mine", "flag": True},
    ),
    # bad overrides are ignored, never raised
    EvalCase(
        "bad-override-quota-float",
        {"default_maxStorageMB": 7},
        ident(),
        overrides={"maxStorageMB": 10.0},
        quota=7,
    ),
    EvalCase(
        "bad-override-quota-string",
        {"default_maxStorageMB": 7},
        ident(),
        overrides={"maxStorageMB": "10"},
        quota=7,
    ),
    EvalCase(
        "bad-override-quota-bool",
        {"default_maxStorageMB": 7},
        ident(),
        overrides={"maxStorageMB": True},
        quota=7,
    ),
    EvalCase(
        "bad-override-quota-negative",
        {"default_maxStorageMB": 7},
        ident(),
        overrides={"maxStorageMB": -1},
        quota=7,
    ),
    EvalCase(
        "bad-override-roles-string",
        {"default_roles": ["user"]},
        ident(),
        overrides={"roles": "admin"},
        roles=("user",),
    ),
    EvalCase(
        "bad-override-role-names-skipped",
        {},
        ident(),
        overrides={"roles": ["ok", "", "a b", 3, "ok2"]},
        roles=("ok", "ok2"),
    ),
    EvalCase(
        "bad-override-reserved-and-odd-values",
        {"expose": []},
        ident(),
        overrides={"username": "mallory", "x": 1.5, "y": None, "z": [1], "": "e", 5: "k", "good": "yes"},
        metadata={"good": "yes"},
    ),
    EvalCase(
        "bad-override-not-a-mapping",
        {"default_roles": ["user"]},
        ident(),
        overrides=["roles"],
        roles=("user",),
    ),
    # require rules
    EvalCase(
        "require-satisfied",
        {"default_roles": ["user"], "rules": [{"name": "staff-only", "require": {"group": ["staff", "x"]}}]},
        ident(groups=("staff",)),
        roles=("user",),
    ),
    EvalCase(
        "require-denies",
        {
            "default_roles": ["user"],
            "rules": [
                {"name": "staff-only", "require": {"group": ["staff", "drone-admins"]}},
                grant("pilots", group="drone-pilots"),
            ],
        },
        ident(groups=("drone-pilots",)),
        roles=("user", "pilots"),
        denied=True,
        deny_reason="require rule 'staff-only' not satisfied: no group matched ['staff', 'drone-admins']",
    ),
    EvalCase(
        "require-first-failing-named",
        {
            "rules": [
                {"name": "ok", "require": {"all": True}},
                {"name": "first", "require": {"provider": "x"}},
                {"name": "second", "require": {"group": "y"}},
            ]
        },
        ident(),
        denied=True,
        deny_reason="'first'",
    ),
    EvalCase(
        "require-not-bypassed-by-override",
        {"rules": [{"name": "r", "require": {"group": "g"}}]},
        ident(),
        overrides={"roles": ["admin"]},
        roles=("admin",),
        denied=True,
    ),
]


@pytest.mark.parametrize("case", EVAL_CASES, ids=[c.id for c in EVAL_CASES])
def test_evaluate(case: EvalCase) -> None:
    policy = parse_policy(case.policy, "t.yaml")
    result = evaluate(policy, case.identity, case.overrides)
    assert result.roles == case.roles
    assert result.max_storage_mb == case.quota and type(result.max_storage_mb) is type(case.quota)
    assert dict(result.metadata) == case.metadata
    assert list(result.metadata) == list(case.metadata)
    assert result.denied is case.denied
    if case.denied:
        assert result.deny_reason is not None and case.deny_reason in result.deny_reason
    else:
        assert result.deny_reason is None


# --- trace, answer, determinism -------------------------------------------------------------


def test_trace_lists_every_rule_in_order_with_defaults_overrides_and_quota() -> None:
    policy = parse_policy(
        {
            **README_POLICY,
            "rules": [*README_POLICY["rules"], {"name": "staff", "require": {"group": "staff"}}],
        },
        "t.yaml",
    )
    result = evaluate(policy, ident(groups=("drone-pilots",)), {"maxStorageMB": "lots", "team": "a"})
    assert [(t.name, t.kind, t.matched) for t in result.trace] == [
        ("defaults", "default", True),
        ("expose", "expose", False),
        ("pilots", "grant", True),
        ("admins", "grant", False),
        ("staff", "require", False),
        ("maxStorageMB", "override", False),
        ("team", "override", True),
        ("maxStorageMB", "quota", True),
    ]
    pilots = result.trace[2]
    assert pilots.why == "group 'drone-pilots' matched"
    assert "roles ['pilot']" in pilots.grants and "maxStorageMB 51200" in pilots.grants
    assert "ignored" in result.trace[5].why
    assert "51200 from rule 'pilots'" in result.trace[-1].why


def test_no_overrides_is_traced() -> None:
    result = evaluate(parse_policy(None, "t.yaml"), ident())
    assert [t.why for t in result.trace if t.kind == "override"] == ["no per-user overrides"]


def test_answer_omits_unlimited_quota_and_puts_reserved_keys_first() -> None:
    policy = parse_policy({**README_POLICY, "expose": ["email"]}, "t.yaml")
    admin = evaluate(policy, ident(groups=("drone-admins",), email="a@x.org"))
    assert build_answer("alice", admin) == {
        "username": "alice",
        "roles": ["user", "admin"],
        "email": "a@x.org",
    }
    pilot = evaluate(policy, ident(groups=("drone-pilots",)))
    assert build_answer("alice", pilot) == {
        "username": "alice",
        "roles": ["user", "pilot"],
        "maxStorageMB": 51200,
    }
    assert list(build_answer("alice", pilot))[:3] == ["username", "roles", "maxStorageMB"]


def test_evaluation_is_frozen_and_deterministic() -> None:
    policy = parse_policy(README_POLICY, "t.yaml")
    identity = ident(groups=("drone-pilots",), attributes={"tags": {"z", "a", "m"}})
    first, second = evaluate(policy, identity), evaluate(policy, identity)
    assert first == second
    with pytest.raises(AttributeError):
        first.roles = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        first.metadata["x"] = 1  # type: ignore[index]


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("boom")

    __repr__ = __str__


def test_hostile_identity_values_do_not_raise() -> None:
    policy = parse_policy(
        {
            "expose": ["weird"],
            "rules": [
                {"name": "a", "match": {"attribute": {"weird": "x"}}, "roles": ["a"]},
                {"name": "b", "match": {"group": "g", "username": "u"}, "roles": ["b"]},
            ],
        },
        "t.yaml",
    )
    identity = Identity(
        provider="p",
        subject="s",
        username="u",
        groups=("g", None, 3, ("nested",)),  # type: ignore[arg-type]
        attributes={"weird": [_Unprintable(), {"a": [1]}, "x"]},
    )
    result = evaluate(policy, identity, {"roles": [_Unprintable()]})
    assert result.roles == ("a", "b")
    assert "weird" not in result.metadata


# --- validate_overrides ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, expected",
    [
        (None, {}),
        ({}, {}),
        ({"maxStorageMB": 0}, {"maxStorageMB": 0}),
        (
            {"maxStorageMB": "unlimited", "roles": ("a", "b")},
            {"maxStorageMB": "unlimited", "roles": ["a", "b"]},
        ),
        ({"team": "x", "n": 1, "f": False}, {"team": "x", "n": 1, "f": False}),
    ],
    ids=["none", "empty", "zero-quota", "unlimited-and-roles", "extras"],
)
def test_validate_overrides_accepts(data: Any, expected: dict[str, Any]) -> None:
    assert validate_overrides(data) == expected


@pytest.mark.parametrize(
    "data, message",
    [
        ([], "must be a mapping"),
        ({"maxStorageMB": 1.0}, "maxStorageMB: must be a non-negative integer"),
        ({"maxStorageMB": "10"}, "maxStorageMB: must be"),
        ({"maxStorageMB": True}, "maxStorageMB: must be"),
        ({"maxStorageMB": -5}, "maxStorageMB: must be"),
        ({"maxStorageMB": 2**63}, "maxStorageMB: must be"),
        ({"roles": "admin"}, "roles: must be a list"),
        ({"roles": ["ok", "not ok"]}, "roles: [1] 'not ok'"),
        ({"username": "bob"}, "username: username is set by the gateway"),
        ({"team": 1.5}, "team: must be a string, integer or boolean"),
        ({"team": None}, "team: must be"),
        ({"": "x"}, "override keys must be non-empty strings"),
    ],
    ids=[
        "not-mapping",
        "float-quota",
        "string-quota",
        "bool-quota",
        "negative-quota",
        "huge-quota",
        "roles-string",
        "bad-role",
        "username",
        "float-extra",
        "none-extra",
        "empty-key",
    ],
)
def test_validate_overrides_rejects(data: Any, message: str) -> None:
    with pytest.raises(ValueError) as err:
        validate_overrides(data)
    assert message in str(err.value)


# --- explanation ----------------------------------------------------------------------------


def test_explanation_of_allowed_login() -> None:
    policy = parse_policy(README_POLICY, "t.yaml")
    result = evaluate(policy, ident(groups=("drone-pilots",)), {"team": "a"})
    text = format_explanation(result, build_answer("alice", result))
    assert text.startswith("Result: allowed\n")
    assert "pilots  matched   group 'drone-pilots' matched  -> roles ['pilot']; maxStorageMB 51200" in text
    assert "admins  no match  no group matched ['drone-admins']" in text
    assert "team: set to 'a'" in text
    assert "roles: user, pilot" in text
    assert "maxStorageMB: 51200 from rule 'pilots'" in text
    assert '"maxStorageMB": 51200' in text
    assert text.endswith("\n")


def test_explanation_of_denied_login() -> None:
    policy = parse_policy({"rules": [{"name": "staff-only", "require": {"group": "staff"}}]}, "t.yaml")
    result = evaluate(policy, ident())
    text = format_explanation(result, {"error": "not allowed"})
    assert text.startswith(
        "Result: DENIED (require rule 'staff-only' not satisfied: no group matched ['staff'])"
    )
    assert "staff-only  FAILED" in text
    assert "no per-user overrides" in text
    assert '"error": "not allowed"' in text


def test_explanation_survives_odd_answer() -> None:
    result = evaluate(parse_policy(None, "t.yaml"), ident())
    assert "Answer:" in format_explanation(result, {"x": object(), "y": float("nan")})
