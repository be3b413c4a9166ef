"""The pure part of mapping administration: rule-level edits, error fields, the YAML round
trip, outcomes and their comparison, and the explanation shape."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.admin import mappingdoc
from gateway.admin.errors import AdminError
from gateway.mapping import evaluate, parse_policy
from providers.base import Identity

PILOTS = {"name": "pilots", "match": {"group": "drone-pilots"}, "roles": ["pilot"], "maxStorageMB": 51200}
ADMINS = {"name": "admins", "match": {"group": "drone-admins"}, "roles": ["admin"]}
STAFF = {"name": "staff", "require": {"group": ["drone-pilots", "drone-admins"]}}
DOCUMENT = {"default_roles": ["viewer"], "rules": [PILOTS, ADMINS]}
ALICE = Identity(
    provider="local", subject="1", username="alice", email="alice@example.org", groups=("drone-pilots",)
)


def names(document):
    return mappingdoc.rule_names(document)


# -- fields -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, index, field",
    [
        ("mapping", None, "document"),
        ("mapping.rules[2].roles", None, "rules[2].roles"),
        ("mapping.default_roles[0]", None, "default_roles[0]"),
        ("mapping.rules[2].roles", 2, "rule.roles"),
        ("mapping.rules[2]", 2, "rule"),
        ("mapping.rules[2].match.group[1]", 2, "rule.match.group[1]"),
        ("mapping.rules[12].roles", 1, "rules[12].roles"),
        ("mapping.rules[1].name", 2, "rules[1].name"),
    ],
)
def test_field_of_drops_the_root_and_names_the_edited_rule(key, index, field):
    assert mappingdoc.field_of(key, index) == field


# -- rule edits ---------------------------------------------------------------------------------


def test_insert_appends_by_default_or_goes_where_told_without_touching_the_input():
    document, index = mappingdoc.insert_rule(DOCUMENT, STAFF, None)
    assert names(document) == ["pilots", "admins", "staff"] and index == 2
    document, index = mappingdoc.insert_rule(DOCUMENT, STAFF, 0)
    assert names(document) == ["staff", "pilots", "admins"] and index == 0
    assert document["default_roles"] == ["viewer"]
    assert names(DOCUMENT) == ["pilots", "admins"]
    document, _ = mappingdoc.insert_rule({}, STAFF, None)
    assert document == {"rules": [STAFF]}


def test_insert_refuses_a_taken_name_a_bad_position_and_a_non_object():
    with pytest.raises(AdminError) as taken:
        mappingdoc.insert_rule(DOCUMENT, {**STAFF, "name": "pilots"}, None)
    assert (taken.value.status, taken.value.field) == (400, "rule.name")
    with pytest.raises(AdminError) as position:
        mappingdoc.insert_rule(DOCUMENT, STAFF, 3)
    assert (position.value.status, position.value.field) == (400, "position")
    with pytest.raises(AdminError) as shape:
        mappingdoc.insert_rule(DOCUMENT, ["not", "a", "rule"], None)
    assert (shape.value.status, shape.value.field) == (400, "rule")


def test_replace_keeps_the_name_when_none_is_given_and_may_rename():
    document, index = mappingdoc.replace_rule(DOCUMENT, "admins", {"match": {"all": True}, "roles": ["x"]})
    assert index == 1 and document["rules"][1] == {"name": "admins", "match": {"all": True}, "roles": ["x"]}
    document, _ = mappingdoc.replace_rule(DOCUMENT, "admins", {**ADMINS, "name": "root"})
    assert names(document) == ["pilots", "root"]
    with pytest.raises(AdminError) as taken:
        mappingdoc.replace_rule(DOCUMENT, "admins", {**ADMINS, "name": "pilots"})
    assert taken.value.field == "rule.name"
    with pytest.raises(AdminError) as missing:
        mappingdoc.replace_rule(DOCUMENT, "nope", ADMINS)
    assert missing.value.status == 404


def test_remove_and_move():
    assert names(mappingdoc.remove_rule(DOCUMENT, "pilots")) == ["admins"]
    with pytest.raises(AdminError) as missing:
        mappingdoc.remove_rule(DOCUMENT, "nope")
    assert missing.value.status == 404
    document, index = mappingdoc.move_rule(DOCUMENT, "pilots", 1)
    assert names(document) == ["admins", "pilots"] and index == 1
    assert names(mappingdoc.move_rule(DOCUMENT, "admins", 0)[0]) == ["admins", "pilots"]
    with pytest.raises(AdminError) as position:
        mappingdoc.move_rule(DOCUMENT, "pilots", 2)
    assert position.value.field == "position"


@settings(max_examples=200, deadline=None)
@given(count=st.integers(1, 8), data=st.data())
def test_a_move_is_a_permutation_that_puts_the_rule_where_asked(count, data):
    document = {"rules": [{"name": f"r{i}"} for i in range(count)]}
    name = f"r{data.draw(st.integers(0, count - 1))}"
    position = data.draw(st.integers(0, count - 1))
    moved, _ = mappingdoc.move_rule(document, name, position)
    assert sorted(names(moved)) == sorted(names(document))
    assert names(moved)[position] == name
    others = [n for n in names(document) if n != name]
    assert [n for n in names(moved) if n != name] == others


# -- YAML ---------------------------------------------------------------------------------------

TRICKY = {
    "default_roles": ["viewer"],
    "default_maxStorageMB": 5120,
    "expose": ["email", "dept"],
    "rules": [
        {
            "name": "yes",
            "match": {"attribute": {"flag": [True, "yes", "007", 7]}, "case_insensitive": True},
            "roles": ["on", "null"],
            "maxStorageMB": "unlimited",
            "metadata": {"note": 'Zürich: 1.5 "quoted"', "n": 2**62, "ok": False, "empty": ""},
        },
        {"name": "gate", "require": {"group_glob": "team-*"}},
    ],
}


def test_yaml_round_trip_is_lossless_and_keeps_key_order():
    text = mappingdoc.policy_yaml(TRICKY, "line one\nline two")
    assert text.startswith("# line one\n# line two\n")
    back = mappingdoc.read_policy_yaml(text)
    assert back == TRICKY and list(back) == list(TRICKY)
    assert list(back["rules"][0]) == list(TRICKY["rules"][0])
    parse_policy(back, "test")  # still a valid policy


def test_reading_yaml_accepts_a_mapping_excerpt_and_refuses_what_is_not_a_policy():
    assert mappingdoc.read_policy_yaml("mapping:\n  default_roles: [x]\n") == {"default_roles": ["x"]}
    assert mappingdoc.read_policy_yaml("{}\n") == {}
    for text, words in [("", "empty"), ("- a\n- b\n", "must hold"), ("a: [\n", "not valid YAML")]:
        with pytest.raises(ValueError) as error:
            mappingdoc.read_policy_yaml(text)
        assert words in str(error.value) and "\n" not in str(error.value)


# -- outcomes -----------------------------------------------------------------------------------


def test_outcome_is_what_a_login_gets():
    policy = parse_policy(DOCUMENT, "test")
    evaluation = evaluate(policy, ALICE, {})
    assert mappingdoc.outcome(evaluation) == {
        "roles": ["viewer", "pilot"],
        "maxStorageMB": 51200,
        "allowed": True,
    }
    assert mappingdoc.outcome(evaluation, enabled=False) == {
        "roles": [],
        "maxStorageMB": None,
        "allowed": False,
    }
    denied = evaluate(
        parse_policy({"rules": [STAFF]}, "t"), Identity(provider="local", subject="2", username="carol"), {}
    )
    assert mappingdoc.outcome(denied)["allowed"] is False
    assert mappingdoc.outcome(None) == {"roles": [], "maxStorageMB": None, "allowed": False}
    assert mappingdoc.outcome(evaluate(parse_policy({}, "t"), ALICE, {}))["maxStorageMB"] is None


def test_compare_lists_changes_in_order_and_counts_the_rest():
    same = {"roles": [], "maxStorageMB": None, "allowed": True}
    more = {"roles": ["pilot"], "maxStorageMB": 51200, "allowed": True}
    changes, unchanged = mappingdoc.compare(
        [("alice", same, more), ("bob", same, same), ("carol", more, same), ("dave", more, more)]
    )
    assert changes == [
        {"userName": "alice", "before": same, "after": more},
        {"userName": "carol", "before": more, "after": same},
    ]
    assert unchanged == 2


def test_granted_roles_lists_defaults_then_rules_once_each():
    policy = parse_policy(
        {
            "default_roles": ["a"],
            "rules": [
                {"name": "x", "match": {"all": True}, "roles": ["b", "a"]},
                {"name": "y", "match": {"all": True}, "roles": ["c", "b"]},
                STAFF,
            ],
        },
        "t",
    )
    assert mappingdoc.granted_roles(policy) == ["a", "b", "c"]


# -- explanations -------------------------------------------------------------------------------


def test_an_explanation_names_every_rule_and_carries_the_exact_answer():
    policy = parse_policy(DOCUMENT, "test")
    identity = Identity(
        provider="local",
        subject="1",
        username="alice",
        email="alice@example.org",
        groups=("drone-pilots",),
        attributes={"tags": {"b", "a"}, "n": float("nan")},
        overrides={"maxStorageMB": 100, "roles": ["extra", "bad role"]},
    )
    result = mappingdoc.explanation(
        identity, "current", evaluate(policy, identity, identity.overrides), policy, True
    )
    assert result["allowed"] is True and result["denyReason"] is None
    assert [(r["name"], r["kind"], r["matched"]) for r in result["rules"]] == [
        ("pilots", "grant", True),
        ("admins", "grant", False),
    ]
    assert result["rules"][0]["why"] == "group 'drone-pilots' matched"
    assert "51200" in result["rules"][0]["grants"]
    assert result["defaults"] == {"roles": ["viewer"], "maxStorageMB": None, "expose": ["email"]}
    assert {o["key"]: o["applied"] for o in result["overrides"]} == {"maxStorageMB": True, "roles": True}
    assert result["answer"] == {
        "username": "alice",
        "roles": ["viewer", "pilot", "extra"],
        "maxStorageMB": 100,
        "email": "alice@example.org",
    }
    assert result["maxStorageMB"] == 100 and "override" in result["maxStorageMBWhy"]
    assert result["identity"]["attributes"] == {"tags": ["a", "b"], "n": "nan"}
    assert result["text"].startswith("Result: allowed")


def test_a_denied_or_disabled_login_has_no_answer():
    policy = parse_policy({"rules": [STAFF]}, "test")
    carol = Identity(provider="local", subject="3", username="carol")
    denied = mappingdoc.explanation(carol, "hypothetical", evaluate(policy, carol, {}), policy, None)
    assert denied["allowed"] is False and denied["answer"] is None
    assert "staff" in denied["denyReason"] and denied["rules"][0]["matched"] is False
    assert denied["text"].startswith("Result: DENIED")
    disabled = mappingdoc.explanation(ALICE, "current", evaluate(policy, ALICE, {}), policy, False)
    assert disabled["allowed"] is False and disabled["answer"] is None
    assert disabled["denyReason"] == "the user is disabled at the gateway"
    assert "disabled" in disabled["text"].splitlines()[0]
