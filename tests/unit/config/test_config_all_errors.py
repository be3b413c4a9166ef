"""``load_config`` reports every problem of a file in one pass (``gateway check-config`` prints
them all), lists the allowed keys for every unknown key, and places a YAML syntax error by line
and column.

Unit tests: temporary files only, no sockets.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config.errors import ConfigError, ConfigErrors
from gateway.config.file import load_config

MANY_PROBLEMS = """\
colour: blue
tokens:
  lifetme_seconds: 60
  issuer: ${GW_TEST_UNSET_URL}
sso:
  brand: {nam: x}
providers:
  - {id: local, type: local, colour: red}
  - {id: corp, type: kerberos}
mapping:
  rules:
    - {name: a, match: {grop: x}, roles: [r]}
    - {name: fine, match: {all: true}, roles: [r]}
    - {name: b, match: {all: true}, role: [r]}
registry:
  sync: {interval: 3}
"""


def load_problems(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert all(error.source == str(path) for error in caught.value.errors)
    return {error.key: error.message for error in caught.value.errors}


def test_every_problem_of_every_section_provider_and_rule_in_one_pass(tmp_path):
    problems = load_problems(tmp_path, MANY_PROBLEMS)
    assert problems == {
        "tokens.issuer": "environment variable GW_TEST_UNSET_URL is not set",
        "colour": "unknown key; allowed: usernames, providers, tokens, throttle, password_policy, "
        "credential_cache, admin, sso, mapping, mapping_source, provider_source, registry, mfa, email, "
        "self_service",
        "providers[0].colour": "unknown key; allowed: id, type, hashing, credential_cache_seconds",
        "providers[1].type": "must be one of ldap, local, oidc",
        "sso.brand.nam": "unknown key; allowed: name, logo_url",
        "tokens.lifetme_seconds": "unknown key; allowed: issuer, audience, algorithm, lifetime_seconds, "
        "leeway_seconds, session_lifetime_seconds",
        "mapping.rules[0].match.grop": "unknown key; allowed: provider, group, group_glob, username, "
        "username_glob, attribute, all, case_insensitive",
        "mapping.rules[2].role": "unknown key; allowed: name, match, require, roles, maxStorageMB, "
        "metadata, organizations, require_mfa",
        "registry.sync.interval": "unknown key; allowed: enabled, interval_seconds",
    }


def test_several_problems_read_one_line_each_and_the_first_names_the_error(tmp_path):
    path = tmp_path / "gateway.yaml"
    path.write_text("tokens:\n  audience: ''\nthrottle:\n  free_failures: 0\n")
    with pytest.raises(ConfigErrors) as caught:
        load_config(path, {})
    error = caught.value
    assert [e.key for e in error.errors] == ["throttle.free_failures", "tokens.audience"]
    assert (error.key, error.message) == (error.errors[0].key, error.errors[0].message)
    assert str(error).splitlines() == [str(e) for e in error.errors]


def test_a_value_from_an_unset_variable_is_reported_once_as_unset(tmp_path):
    problems = load_problems(tmp_path, "tokens:\n  lifetime_seconds: ${GW_TEST_UNSET}\n")
    assert problems == {"tokens.lifetime_seconds": "environment variable GW_TEST_UNSET is not set"}


def test_registry_section_unknown_key_lists_the_allowed_keys(tmp_path):
    problems = load_problems(tmp_path, "registry:\n  url: http://r:5000\n  colour: red\n")
    (message,) = problems.values()
    assert message.startswith("unknown key; allowed: ") and "url" in message


@pytest.mark.parametrize(
    "text, where",
    [
        ("tokens:\n  issuer: [x\nfoo: 1\n", "at line 3:4: expected ',' or ']', but got ':'"),
        ("a: 1\n  b: 2\n", "at line 2:4: mapping values are not allowed here"),
    ],
)
def test_yaml_syntax_error_names_the_file_line_and_column(tmp_path, text, where):
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert str(caught.value).startswith(f"{path}: (file): not valid YAML {where}")
    assert "<unicode string>" not in str(caught.value)


def test_every_problem_of_one_rule_in_one_pass(tmp_path):
    """A bad ``match`` no longer hides a bad ``roles``, quota or organization of the same rule."""
    problems = load_problems(
        tmp_path,
        "mapping:\n  rules:\n"
        "    - name: a\n      colour: red\n      match: {grop: x}\n      roles: ['role!']\n"
        "      maxStorageMB: lots\n      organizations: [{sl: x}]\n      require_mfa: maybe\n"
        "    - name: b\n      require: {group: x}\n      roles: [r]\n",
    )
    assert set(problems) == {
        "mapping.rules[0].colour",
        "mapping.rules[0].match.grop",
        "mapping.rules[0].roles[0]",
        "mapping.rules[0].maxStorageMB",
        "mapping.rules[0].organizations[0].sl",
        "mapping.rules[0].require_mfa",
        "mapping.rules[1].roles",
    }, problems
    assert problems["mapping.rules[1].roles"] == "a require rule grants nothing; use a match rule"


def test_every_problem_of_self_service_in_one_pass(tmp_path):
    """A faulty key of ``self_service`` no longer hides its ``registration`` part, nor the
    missing ``email:`` section both features need."""
    problems = load_problems(
        tmp_path,
        "self_service:\n  password_reset: true\n  reset_link_minutes: 1\n"
        "  registration: {enabled: true, colour: red}\n",
    )
    assert set(problems) == {
        "self_service.reset_link_minutes",
        "self_service.registration.colour",
        "self_service.password_reset",
        "self_service.registration.require_email_verification",
    }, problems
