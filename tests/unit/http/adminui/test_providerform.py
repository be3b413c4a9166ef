"""Unit tests (no sockets): the guided provider forms read into a provider section and back,
secrets never shown, problems put next to their inputs."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from gateway.http.adminui.forms import FormProblem
from gateway.http.adminui.providerform import (
    choices,
    field_errors,
    section_from_form,
    values_from_section,
)


def _read(kind: str, **fields):
    form = MultiDict(fields)
    return section_from_form(kind, form, form.getlist)


def test_an_ldap_form_becomes_a_section_and_shows_back_without_its_secret():
    form = MultiDict(
        {
            "preset": "openldap",
            "servers": "ldaps://a.example\n\nldaps://b.example\n",
            "bind_dn": "cn=svc",
            "bind_password": "pw-1",
            "user_base": "ou=people",
            "groups_base": "ou=groups",
            "nested": "on",
            "extra": "account_state: openldap\nuser: {attributes: {dept: departmentNumber}}",
        }
    )
    form.setlist("group_strategies", ["member", "member_of"])
    section = section_from_form("ldap", form, form.getlist)
    assert section["servers"] == ["ldaps://a.example", "ldaps://b.example"]
    assert section["bind"] == {"dn": "cn=svc", "password": "pw-1"}
    assert section["user"] == {"attributes": {"dept": "departmentNumber"}, "base": "ou=people"}
    assert section["groups"] == {"base": "ou=groups", "strategies": ["member", "member_of"], "nested": True}
    assert section["start_tls"] is False and section["account_state"] == "openldap"

    shown = {**section, "bind": {"dn": "cn=svc", "password": "(set)"}}
    values = values_from_section("ldap", shown, enabled=True)
    assert values["bind_password_set"] is True and "bind_password" not in values
    assert values["servers"] == "ldaps://a.example\nldaps://b.example"
    assert "account_state: openldap" in values["extra"] and "departmentNumber" in values["extra"]
    assert "password" not in values["extra"]


def test_an_empty_secret_asks_to_keep_the_stored_one_and_no_bind_dn_means_anonymous():
    assert _read("ldap", bind_dn="cn=svc")["bind"]["password"] == "(set)"
    assert "bind" not in _read("ldap", servers="ldap://h")
    assert "client_secret" not in _read("oidc", client_auth="none")
    assert _read("oidc", scopes="openid  email")["scopes"] == ["openid", "email"]


@pytest.mark.parametrize("extra", ["- a list", "key: [unclosed", "x" * 20_001])
def test_other_settings_must_be_a_yaml_mapping(extra):
    with pytest.raises(FormProblem) as problem:
        _read("ldap", extra=extra)
    assert problem.value.field == "extra"


def test_problems_go_next_to_their_inputs_or_to_other_settings():
    errors = field_errors(
        "ldap",
        {
            "settings.servers[0]": "bad scheme",
            "settings.user": "Missing data for required field.",
            "settings.pool_size": "Must be greater than or equal to 1",
            "id": "taken",
        },
    )
    assert errors["servers"] == "Bad scheme."
    assert errors["user_base"] == "Enter the user search base."
    assert errors["extra"] == "pool_size: must be greater than or equal to 1." and errors["id"] == "Taken."


def test_choices_come_from_the_schema():
    assert set(choices("ldap", "preset")) == {"openldap", "active_directory"}
    assert "in_chain" in choices("ldap", "groups.strategies")
    assert "none" in choices("oidc", "client_auth")
