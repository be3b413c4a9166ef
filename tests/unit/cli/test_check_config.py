"""Unit tests (no sockets): ``gateway check-config`` reports every problem of the environment
and the file in one run, refuses the GATEWAY_ADMIN_PASSWORD the first start would refuse (in
the same words), and says what to write instead of marshmallow's messages."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.config.adminpassword import check_admin_password
from gateway.config.errors import ConfigError
from providers.local.policy import PasswordPolicy
from providers.schema import plain_words

GOOD_PASSWORD = "correct-Horse-battery-staple-42"


def _check(tmp_path, config: str | None = None, **variables: str):
    environment = {
        "GATEWAY_DOTENV": str(tmp_path / "no.env"),
        "GATEWAY_INSTANCE_DIR": str(tmp_path / "instance"),
        "GATEWAY_DATABASE_URL": "",
        "GATEWAY_KEY_ENCRYPTION_KEY": "",
        "GATEWAY_ADMIN_PASSWORD": "",
        "GATEWAY_WORKERS": "",
        "GATEWAY_TRUSTED_PROXIES": "",
        "GATEWAY_CONFIG": "",
    }
    if config is not None:
        path = tmp_path / "gateway.yaml"
        path.write_text(config, "utf-8")
        environment["GATEWAY_CONFIG"] = str(path)
    environment.update(variables)
    return CliRunner().invoke(main, ["check-config"], env=environment)


def _errors(result) -> list[str]:
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    return [line for line in result.output.splitlines() if line.startswith("configuration error: ")]


def test_every_environment_and_file_problem_in_one_run(tmp_path):
    result = _check(
        tmp_path,
        "colour: blue\nthrottle:\n  free_failures: 0\ntokens:\n  lifetme_seconds: 60\n",
        GATEWAY_WORKERS="abc",
        GATEWAY_TRUSTED_PROXIES="zz",
        GATEWAY_METRICS_TOKEN="short",
    )
    errors = _errors(result)
    where = tmp_path / "gateway.yaml"
    assert errors[:3] == [
        "configuration error: environment: GATEWAY_WORKERS: must be a whole number, got 'abc'",
        "configuration error: environment: GATEWAY_METRICS_TOKEN: must be at least 16 characters",
        "configuration error: environment: GATEWAY_TRUSTED_PROXIES: 'zz' is not an IP address or CIDR "
        "network",
    ]
    assert [line.split(": ")[2] for line in errors[3:]] == [
        "colour",
        "throttle.free_failures",
        "tokens.lifetme_seconds",
    ]
    assert all(line.startswith(f"configuration error: {where}: ") for line in errors[3:])


def test_a_wrong_database_url_is_one_problem_not_two(tmp_path):
    errors = _errors(_check(tmp_path, GATEWAY_DATABASE_URL="mysql://x", GATEWAY_THREADS="0"))
    assert errors == [
        "configuration error: environment: GATEWAY_DATABASE_URL: must be a sqlite:// or "
        "postgresql+psycopg:// URL",
        "configuration error: environment: GATEWAY_THREADS: must be between 1 and 64",
    ]


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "password must be at least 12 characters"),
        ("adminadmin123", "password must not contain the username"),
        ("password1234", "password is on a list of commonly used passwords"),
    ],
)
def test_an_admin_password_the_first_start_refuses_is_refused_in_its_words(tmp_path, password, reason):
    errors = _errors(_check(tmp_path, GATEWAY_ADMIN_PASSWORD=password))
    with pytest.raises(ConfigError) as start_up:  # what gateway.bootstrap.ensure_admin raises
        check_admin_password(password, PasswordPolicy(), "admin")
    assert errors == [f"configuration error: {start_up.value}"]
    assert f"GATEWAY_ADMIN_PASSWORD: {reason}. The admin's password follows the password rules" in errors[0]


def test_the_admin_password_is_checked_against_the_files_policy_and_admin(tmp_path):
    config = "admin:\n  username: chief\npassword_policy:\n  min_length: 40\n"
    errors = _errors(_check(tmp_path, config, GATEWAY_ADMIN_PASSWORD=GOOD_PASSWORD))
    assert errors[0].endswith(
        "GATEWAY_ADMIN_PASSWORD: password must be at least 40 characters. The admin's password follows "
        "the password rules (at least 40 characters, not containing the username, not a commonly used "
        "password, hard to guess: strength score at least 3 of 4); choose another, or unset "
        "GATEWAY_ADMIN_PASSWORD to have one generated and printed once"
    )
    assert _errors(
        _check(tmp_path, "admin:\n  username: chief\n", GATEWAY_ADMIN_PASSWORD="chief-" + GOOD_PASSWORD)
    )
    passed = _check(tmp_path, GATEWAY_ADMIN_PASSWORD=GOOD_PASSWORD)
    assert passed.exit_code == 0 and "configuration OK (defaults)" in passed.output


# One common marshmallow message per section, and what check-config says instead.
PLAIN = [
    ("providers: local\n", "providers", "must be a list: one item per line, each starting with '- '"),
    ("email:\n  sender: a@example.org\n", "email.smtp", "is required: add this key with a value"),
    ("throttle:\n  free_failures: 0\n", "throttle.free_failures", "must be between 1 and 1000"),
    ("tokens:\n  lifetime_seconds: soon\n", "tokens.lifetime_seconds", "must be a whole number, such as 30"),
    (
        "tokens:\n  issuer: not a url\n",
        "tokens.issuer",
        "must be a whole URL, such as https://example.org/path",
    ),
    ("usernames:\n  lowercase: maybe\n", "usernames.lowercase", "must be true or false"),
    ("mapping_source: files\n", "mapping_source", "must be one of: file, database"),
    (
        "admin:\n  username: Admin\n",
        "admin.username",
        "Use 'admin' instead: this gateway writes usernames in",
    ),
    ("sso: [a]\n", "sso", "must be a mapping: keys indented below it, one 'key: value' per line"),
    (
        "providers:\n  - {id: Corp, type: local}\n",
        "providers[0].id",
        "must be 1 to 64 lower-case letters, digits, - or _, starting with a letter or digit",
    ),
    (
        "providers:\n  - {id: corp, type: ldap, user: {base: 'dc=x'}}\n",
        "providers[0].servers",
        "is required: add this key with a value",
    ),
]


@pytest.mark.parametrize(("config", "key", "message"), PLAIN, ids=[key for _, key, _ in PLAIN])
def test_messages_say_what_to_write_instead(tmp_path, config, key, message):
    errors = _errors(_check(tmp_path, config))
    found = [line.split(f"{key}: ", 1)[1] for line in errors if f": {key}: " in line]
    assert found and found[0].startswith(message), errors
    for jargon in ("Not a valid", "Missing data", "canonical", "Must be", "Invalid input"):
        assert jargon not in "\n".join(errors)


def test_plain_words_keep_messages_they_do_not_know():
    assert plain_words("must not be less than min_length") == "must not be less than min_length"
    assert plain_words("Must be greater than or equal to 0.") == "must be 0 or more"
    assert plain_words("Longer than maximum length 16.") == (
        "is too long: at most 16 characters (or items, for a list)"
    )
