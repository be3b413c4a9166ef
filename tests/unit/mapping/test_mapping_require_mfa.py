"""Table tests (no sockets) for the ``require_mfa`` rule outcome of the mapping."""

from __future__ import annotations

import pytest

from gateway.config.errors import ConfigError
from gateway.login.answer import build_answer
from gateway.mapping import evaluate, parse_policy
from providers.base import Identity


def ident(groups: tuple[str, ...] = (), username: str = "alice") -> Identity:
    return Identity(provider="corp", subject=f"sub-{username}", username=username, groups=groups)


ADMINS_MFA = {"name": "admins-mfa", "match": {"group": "drone-admins"}, "require_mfa": True}
PILOTS = {"name": "pilots", "match": {"group": "pilots"}, "roles": ["pilot"]}
PILOTS_NO_MFA = {"name": "pilots-roles", "match": {"group": "pilots"}, "roles": ["p"], "require_mfa": False}


@pytest.mark.parametrize(
    ("rules", "groups", "expected"),
    [
        ([], (), False),
        ([ADMINS_MFA], (), False),
        ([ADMINS_MFA], ("drone-admins",), True),
        ([ADMINS_MFA], ("pilots",), False),
        ([PILOTS, ADMINS_MFA], ("pilots", "drone-admins"), True),
        ([PILOTS_NO_MFA, ADMINS_MFA], ("pilots", "drone-admins"), True),  # any matching rule wins
        ([PILOTS_NO_MFA], ("pilots",), False),
        ([{"name": "all", "match": {"all": True}, "require_mfa": True}], (), True),
    ],
)
def test_require_mfa_is_set_by_any_matching_rule(rules, groups, expected):
    evaluation = evaluate(parse_policy({"rules": rules}, "test"), ident(groups))
    assert evaluation.require_mfa is expected


def test_require_mfa_is_not_in_the_registry_answer():
    policy = parse_policy({"rules": [ADMINS_MFA, PILOTS]}, "test")
    answer = build_answer("alice", evaluate(policy, ident(("drone-admins", "pilots"))))
    assert "require_mfa" not in answer and "requireMfa" not in answer
    assert answer["roles"] == ["pilot"]


def test_the_trace_says_a_second_factor_is_required():
    evaluation = evaluate(parse_policy({"rules": [ADMINS_MFA]}, "test"), ident(("drone-admins",)))
    (step,) = [t for t in evaluation.trace if t.name == "admins-mfa"]
    assert step.matched and "second factor" in step.grants


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        ({"name": "x", "match": {"all": True}, "require_mfa": "yes"}, "mapping.rules[0].require_mfa"),
        ({"name": "x", "match": {"all": True}, "require_mfa": 1}, "mapping.rules[0].require_mfa"),
        ({"name": "x", "require": {"all": True}, "require_mfa": True}, "mapping.rules[0].require_mfa"),
        ({"name": "x", "match": {"all": True}, "require_mfa": False}, "mapping.rules[0]"),
    ],
)
def test_bad_require_mfa_values_are_configuration_errors(rule, key):
    with pytest.raises(ConfigError) as raised:
        parse_policy({"rules": [rule]}, "test")
    assert key in str(raised.value)
