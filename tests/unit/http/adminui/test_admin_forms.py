"""The admin UI's form readers (pure): list fields never split on spaces, role names are
checked with a plain reason that says where the bad one is, messages written for the API or
the policy parser come out in plain words, a stored rule fills the simple form when it fits."""

from __future__ import annotations

import pytest

from gateway.admin.errors import AdminError
from gateway.http.adminui import forms, ruleform


def test_lines_keep_spaces_and_drop_blanks_and_repeats():
    assert forms.lines(" Domain Users \r\n\r\nsurvey-*\nDomain Users\n") == ["Domain Users", "survey-*"]


def test_role_names_split_on_lines_and_commas_never_on_spaces():
    assert forms.role_names("pilot\r\nsurveyor, viewer\npilot") == ["pilot", "surveyor", "viewer"]
    with pytest.raises(forms.FormProblem) as refused:
        forms.role_names("pilot\nsenior pilot\nrole!")
    assert refused.value.field == "roles"
    assert refused.value.message == (
        "Role names can only use letters, digits and _ . @ + - (no spaces, one role per line, at most 64 "
        "characters): \u201csenior pilot\u201d is the second role; \u201crole!\u201d is the third role."
    )


@pytest.mark.parametrize(
    ("message", "said"),
    [
        (
            "roles: [2] 'role!' must be a role name: 1-64 of letters, digits and _ . @ + -",
            "Role names can only use letters, digits and _ . @ + - (no spaces, at most 64 characters): "
            "\u201crole!\u201d is the third role.",
        ),
        (
            "rule.name: must be 1-64 of letters, digits and _ . -",
            "The rule's name can only use letters, digits and _ . - (no spaces, at most 64 characters).",
        ),
        (
            "rules[2].roles[1]: must be a role name: 1-64 of letters, digits and _ . @ + -",
            "The third rule's second role is not a role name: role names can only use letters, digits and "
            "_ . @ + - (no spaces, at most 64 characters).",
        ),
        ("Not a valid email address.", "Enter an email address such as name@example.org."),
        ("Length must be between 1 and 64.", "Use 1 to 64 characters."),
        ("name: 1-64 characters: letters, digits", "1-64 characters: letters, digits."),
        (
            "name: 1-64 characters: letters, digits and _ . @ + - (starting with a letter or digit)",
            "A group name can only use letters, digits and _ . @ + - (no spaces, at most 64 characters) "
            "and starts with a letter or digit.",
        ),
        ("you cannot disable yourself", "You cannot disable yourself."),
    ],
)
def test_plain_words(message, said):
    assert forms.plain(message) == said


def test_a_word_for_a_quota_is_not_called_too_large():
    with pytest.raises(forms.FormProblem) as refused:
        forms.quota("lots")
    assert refused.value.message == forms.QUOTA_ADVICE
    with pytest.raises(forms.FormProblem) as refused:
        forms.quota("99999999999999999999")
    assert refused.value.message.startswith("That is too large.")


def test_the_rule_form_reports_every_field_at_once():
    rule, errors = ruleform.read_rule_form(
        {
            "name": "bad name",
            "kind": "grant",
            "who": "group",
            "values": "",
            "roles": "a b",
            "maxStorageMB": "x",
        }
    )
    assert list(errors) == ["name", "values", "roles", "maxStorageMB"]


def test_a_stored_rule_fills_the_simple_form_when_it_fits():
    rule = {
        "name": "pilots",
        "match": {"group": ["Domain Users", "pilots"]},
        "roles": ["pilot"],
        "maxStorageMB": 5120,
    }
    values = ruleform.form_values(rule)
    assert values == {
        "name": "pilots",
        "kind": "grant",
        "who": "group",
        "values": "Domain Users\npilots",
        "roles": "pilot",
        "maxStorageMB": "5 GB",
        "require_mfa": "",
    }
    again, errors = ruleform.read_rule_form(values)
    assert not errors and again == rule
    assert ruleform.form_values({"name": "x", "match": {"group": "a", "username": "b"}}) is None
    assert ruleform.form_values({"name": "x", "match": {"group": "a"}, "metadata": {"t": 1}}) is None
    assert ruleform.form_values({"name": "x", "require": {"all": True}}) == {
        "name": "x",
        "kind": "require",
        "who": "all",
        "values": "",
        "roles": "",
        "maxStorageMB": "",
        "require_mfa": "",
    }


def test_the_rule_form_asks_for_a_second_factor_with_a_checkbox():
    rule = {"name": "admins-mfa", "match": {"group": "drone-admins"}, "require_mfa": True}
    values = ruleform.form_values(rule)
    assert values is not None and values["require_mfa"] == ruleform.CHECKED and values["roles"] == ""
    again, errors = ruleform.read_rule_form(values)
    assert not errors and again == rule
    with_roles, errors = ruleform.read_rule_form({**values, "roles": "admin"})
    assert not errors and with_roles == {**rule, "roles": ["admin"]}
    # An unticked box leaves the rule without the key, as a YAML author would write it.
    unticked, errors = ruleform.read_rule_form({**values, "require_mfa": "", "roles": "admin"})
    assert not errors and "require_mfa" not in unticked
    # Nothing granted at all: the one message names the second factor among the choices.
    _, errors = ruleform.read_rule_form({**values, "require_mfa": ""})
    assert list(errors) == ["roles"] and "second factor" in errors["roles"]
    # A require rule grants nothing, so it cannot ask for a factor (the policy would refuse it).
    _, errors = ruleform.read_rule_form({**values, "kind": "require"})
    assert list(errors) == ["require_mfa"]
    assert ruleform.form_values({**rule, "require_mfa": "yes"}) is None
    assert ruleform.rule_errors(AdminError(400, "must be true or false", "rule.require_mfa")) == {
        "require_mfa": "Must be true or false."
    }
