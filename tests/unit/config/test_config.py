"""Configuration file (gateway.config.file) and environment settings (gateway.config.settings): every bad
value raises ConfigError naming the file (or ``environment``) and the exact key.

Unit tests: temporary files only, no sockets.
"""

from __future__ import annotations

import os
import stat
import textwrap
from pathlib import Path

import pytest

from gateway.config.errors import ConfigError
from gateway.config.file import load_config
from gateway.config.settings import load_settings
from gateway.config.settingsobjects import GatewayConfig
from gateway.login.throttle import ThrottleSettings

# (id, YAML text, environment, expected key, text the message must contain)
BAD_FILES = [
    ("unknown top-level key", "colour: blue\n", {}, "colour", "unknown key"),
    ("unknown nested key", "tokens:\n  lifetme_seconds: 60\n", {}, "tokens.lifetme_seconds", "unknown key"),
    ("unknown key in usernames", "usernames:\n  casefold: true\n", {}, "usernames.casefold", "unknown key"),
    ("nested section not a mapping", "tokens: 5\n", {}, "tokens", "mapping"),
    (
        "bad provider type",
        "providers:\n  - {id: corp, type: kerberos}\n",
        {},
        "providers[0].type",
        "must be one of ldap, local",
    ),
    ("provider without type", "providers:\n  - {id: corp}\n", {}, "providers[0].type", "must be one of"),
    ("provider not a mapping", "providers:\n  - local\n", {}, "providers[0]", "mapping"),
    ("no providers", "providers: []\n", {}, "providers", "is too short: at least 1"),
    (
        "duplicate provider ids",
        "providers:\n  - {id: local, type: local}\n  - {id: local, type: local}\n",
        {},
        "providers[1].id",
        "duplicate provider id 'local'",
    ),
    (
        "bad provider id",
        "providers:\n  - {id: Local!, type: local}\n",
        {},
        "providers[0].id",
        "must be 1 to 64 lower-case letters",
    ),
    (
        "unknown provider option",
        "providers:\n  - {id: local, type: local, colour: red}\n",
        {},
        "providers[0].colour",
        "unknown key",
    ),
    (
        "hashing out of range",
        "providers:\n  - id: local\n    type: local\n    hashing: {slots: 0}\n",
        {},
        "providers[0].hashing.slots",
        "must be between 1 and",
    ),
    ("bad algorithm", "tokens:\n  algorithm: HS256\n", {}, "tokens.algorithm", "must be one of: "),
    (
        "lifetime not a number",
        "tokens:\n  lifetime_seconds: soon\n",
        {},
        "tokens.lifetime_seconds",
        "must be a whole number",
    ),
    ("issuer not a URL", "tokens:\n  issuer: not a url\n", {}, "tokens.issuer", "must be a whole URL"),
    (
        "min_length > max_length",
        "password_policy:\n  min_length: 100\n  max_length: 64\n",
        {},
        "password_policy.max_length",
        "must not be less than min_length",
    ),
    (
        "min_score out of range",
        "password_policy:\n  min_score: 5\n",
        {},
        "password_policy.min_score",
        "must be between 0 and 4",
    ),
    (
        "max_delay < base_delay",
        "throttle:\n  base_delay_seconds: 10\n  max_delay_seconds: 5\n",
        {},
        "throttle.max_delay_seconds",
        "must not be less than base_delay_seconds",
    ),
    (
        "bad username alphabet",
        "usernames:\n  alphabet: anything\n",
        {},
        "usernames.alphabet",
        "must be one of: ",
    ),
    ("non-canonical admin", "admin:\n  username: Admin\n", {}, "admin.username", "Use 'admin' instead"),
    ("empty admin role", "admin:\n  roles: ['']\n", {}, "admin.roles[0]", "must have 1 to 64 characters"),
    (
        "bad mapping quota",
        "mapping:\n  rules:\n    - {name: x, match: {group: a}, maxStorageMB: 1.5}\n",
        {},
        "mapping.rules[0].maxStorageMB",
        "non-negative integer",
    ),
    ("unknown mapping key", "mapping:\n  rulez: []\n", {}, "mapping.rulez", "unknown key"),
    (
        "unset variable",
        "tokens:\n  audience: ${UNSET_GW_TEST_VAR}\n",
        {},
        "tokens.audience",
        "environment variable UNSET_GW_TEST_VAR is not set",
    ),
    (
        "unset variable in a list",
        "admin:\n  roles: [admin, '${GW_TEST_ROLE}']\n",
        {},
        "admin.roles[1]",
        "environment variable GW_TEST_ROLE is not set",
    ),
    (
        "variable value is validated",
        "tokens:\n  lifetime_seconds: ${GW_LIFETIME}\n",
        {"GW_LIFETIME": "ten"},
        "tokens.lifetime_seconds",
        "must be a whole number",
    ),
    ("non-mapping top level", "- a\n- b\n", {}, "(top level)", "must be a mapping"),
    ("scalar top level", "just text\n", {}, "(top level)", "must be a mapping"),
    ("invalid YAML", "tokens: [unclosed\n", {}, "(file)", "not valid YAML"),
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, environ, key, message", [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES]
)
def test_bad_file_names_file_and_key(tmp_path, text, environ, key, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ)
    error = caught.value
    assert error.source == str(path)
    assert error.key == key
    assert message in error.message
    assert str(error) == f"{path}: {key}: {error.message}"


def test_unreadable_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing, {})
    assert (caught.value.source, caught.value.key) == (str(missing), "(file)")
    assert "cannot read" in caught.value.message
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, {})  # a directory
    assert caught.value.key == "(file)"


def test_variables_are_expanded_with_defaults(tmp_path):
    path = write(
        tmp_path,
        textwrap.dedent("""
        tokens:
          audience: ${GW_AUDIENCE:-fallback-audience}
          issuer: https://${GW_HOST}/auth
          lifetime_seconds: ${GW_LIFETIME:-600}
        admin:
          username: ${GW_ADMIN:-}root
    """),
    )
    config = load_config(path, {"GW_HOST": "gw.example.org"})
    assert config.tokens.audience == "fallback-audience"
    assert config.tokens.issuer == "https://gw.example.org/auth"
    assert config.tokens.lifetime_seconds == 600
    assert config.admin.username == "root"
    # A set variable beats its default, even when it is set to an empty string.
    config = load_config(path, {"GW_HOST": "h", "GW_AUDIENCE": "set", "GW_ADMIN": ""})
    assert config.tokens.audience == "set"
    assert config.admin.username == "root"


def test_defaults_without_a_file():
    config = load_config(None)
    assert config.source == "defaults"
    assert [(p.id, p.type) for p in config.providers] == [("local", "local")]
    assert config.providers[0].options["hashing"] == {
        "slots": 2,
        "wait_seconds": 10.0,
        "time_cost": 2,
        "memory_cost_kib": 19456,
        "parallelism": 1,
    }
    assert config.usernames == GatewayConfig().usernames
    assert config.tokens.algorithm == "ES256"
    assert config.throttle == ThrottleSettings()
    assert config.password_policy.min_length == 12
    assert config.password_policy.min_score == 3
    assert config.mapping.rules == ()


def test_empty_file_gives_defaults(tmp_path):
    config = load_config(write(tmp_path, "# nothing here\n"), {})
    assert config.source == str(tmp_path / "gateway.yaml")
    assert config.providers[0].options["hashing"]["time_cost"] == 2
    assert config.tokens.lifetime_seconds == 3600


def test_a_full_file_loads(tmp_path):
    config = load_config(
        write(
            tmp_path,
            textwrap.dedent("""
        usernames: {alphabet: strict}
        providers:
          - id: local
            type: local
            hashing: {slots: 4, time_cost: 1, memory_cost_kib: 8192}
        tokens: {algorithm: EdDSA, lifetime_seconds: 600}
        throttle: {free_failures: 3, base_delay_seconds: 0.5, max_delay_seconds: 60}
        password_policy: {min_length: 14, blocklist: null, min_score: 4}
        admin: {username: root, roles: [admin, ops]}
        mapping:
          rules:
            - {name: pilots, match: {group: drone-pilots}, roles: [pilot], maxStorageMB: 51200}
    """),
        ),
        {},
    )
    assert config.usernames.alphabet == "strict"
    assert config.providers[0].options["hashing"]["slots"] == 4
    assert config.tokens.algorithm == "EdDSA"
    assert config.throttle.free_failures == 3
    assert config.password_policy.min_length == 14 and config.password_policy.blocklist is None
    assert config.password_policy.min_score == 4
    assert config.admin.roles == ("admin", "ops")
    assert config.mapping.rules[0].max_storage_mb == 51200


# ---- environment settings ----------------------------------------------------------------

KEY = "k" * 32

BAD_ENVIRONMENTS = [
    ("workers not a number", {"GATEWAY_WORKERS": "abc"}, "GATEWAY_WORKERS", "whole number"),
    ("workers zero", {"GATEWAY_WORKERS": "0"}, "GATEWAY_WORKERS", "between 1 and 64"),
    ("threads too many", {"GATEWAY_THREADS": "65"}, "GATEWAY_THREADS", "between 1 and 64"),
    (
        "mysql",
        {"GATEWAY_DATABASE_URL": "mysql://u:p@db/gateway"},
        "GATEWAY_DATABASE_URL",
        "sqlite:// or postgresql",
    ),
    ("short key", {"GATEWAY_KEY_ENCRYPTION_KEY": "k" * 31}, "GATEWAY_KEY_ENCRYPTION_KEY", "at least 32"),
    (
        "postgres without key",
        {"GATEWAY_DATABASE_URL": "postgresql+psycopg://u@db/gateway"},
        "GATEWAY_KEY_ENCRYPTION_KEY",
        "required with an external database",
    ),
    ("bad log level", {"GATEWAY_LOG_LEVEL": "chatty"}, "GATEWAY_LOG_LEVEL", "must be one of"),
    ("bad boolean", {"GATEWAY_AUTO_MIGRATE": "maybe"}, "GATEWAY_AUTO_MIGRATE", "true or false"),
]


@pytest.mark.parametrize(
    "environ, key, message",
    [case[1:] for case in BAD_ENVIRONMENTS],
    ids=[case[0] for case in BAD_ENVIRONMENTS],
)
def test_bad_environment_names_the_variable(tmp_path, environ, key, message):
    env = {"GATEWAY_INSTANCE_DIR": str(tmp_path / "instance"), **environ}
    with pytest.raises(ConfigError) as caught:
        load_settings(env, read_dotenv=False)
    assert (caught.value.source, caught.value.key) == ("environment", key)
    assert message in caught.value.message
    assert str(caught.value).startswith(f"environment: {key}: ")


def test_settings_defaults_and_values(tmp_path):
    instance = tmp_path / "instance"
    settings = load_settings(
        {
            "GATEWAY_INSTANCE_DIR": str(instance),
            "GATEWAY_KEY_ENCRYPTION_KEY": KEY,
            "GATEWAY_LOG_LEVEL": "debug",
            "GATEWAY_AUTO_MIGRATE": "no",
            "GATEWAY_PUBLIC_URL": "https://gw.example.org/",
        },
        read_dotenv=False,
    )
    assert settings.database_url == f"sqlite:///{instance.resolve() / 'gateway.db'}"
    assert settings.uses_embedded_database
    assert settings.key_encryption_key == KEY
    assert settings.config_path is None and settings.redis_url is None
    assert (settings.workers, settings.threads, settings.bind) == (2, 4, "127.0.0.1:8080")
    assert settings.log_level == "DEBUG"
    assert settings.auto_migrate is False
    assert settings.public_url == "https://gw.example.org"
    settings = load_settings(
        {
            "GATEWAY_DATABASE_URL": "postgresql+psycopg://u@db/gw",
            "GATEWAY_KEY_ENCRYPTION_KEY": KEY,
            "GATEWAY_INSTANCE_DIR": str(instance),
        },
        read_dotenv=False,
    )
    assert not settings.uses_embedded_database


def test_embedded_default_key_file_is_created_once_owner_only(tmp_path):
    instance = tmp_path / "instance"
    env = {"GATEWAY_INSTANCE_DIR": str(instance)}
    first = load_settings(env, read_dotenv=False).key_encryption_key
    key_file = instance / "key-encryption.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert len(first) >= 32
    assert key_file.read_text().strip() == first
    mtime = key_file.stat().st_mtime_ns
    second = load_settings(env, read_dotenv=False).key_encryption_key
    assert second == first
    assert key_file.stat().st_mtime_ns == mtime
    # An explicit key wins and the file is neither used nor changed.
    assert (
        load_settings({**env, "GATEWAY_KEY_ENCRYPTION_KEY": KEY}, read_dotenv=False).key_encryption_key == KEY
    )
    assert key_file.read_text().strip() == first


def test_no_key_file_for_an_external_database(tmp_path):
    instance = tmp_path / "instance"
    load_settings(
        {
            "GATEWAY_INSTANCE_DIR": str(instance),
            "GATEWAY_KEY_ENCRYPTION_KEY": KEY,
            "GATEWAY_DATABASE_URL": "postgresql+psycopg://u@db/gw",
        },
        read_dotenv=False,
    )
    assert not (instance / "key-encryption.key").exists()


@pytest.mark.parametrize("content", ["", "\n", "too-short-a-key\n"], ids=["empty", "newline", "short"])
def test_damaged_key_file_is_a_config_error(tmp_path, content):
    # An empty or truncated key file must not silently become a weak (or empty) key.
    instance = tmp_path / "instance"
    instance.mkdir()
    key_file = instance / "key-encryption.key"
    key_file.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_settings({"GATEWAY_INSTANCE_DIR": str(instance)}, read_dotenv=False)
    assert caught.value.source == str(key_file)
    assert "32" in caught.value.message
    assert key_file.read_text() == content  # never overwritten


def test_the_brand_logo_must_be_https():
    """The pages' Content-Security-Policy loads https images only: an http logo would be
    blocked, so the configuration refuses it."""
    from gateway.config.file import parse_config

    sso = {"registry_login_url": "https://hub.example.com/login"}
    brand = parse_config(
        {"sso": {**sso, "brand": {"name": "Hub", "logo_url": "https://cdn.example/l.svg"}}}, "gateway.yaml"
    ).sso.brand
    assert (brand.name, brand.logo_url) == ("Hub", "https://cdn.example/l.svg")
    with pytest.raises(ConfigError) as caught:
        parse_config({"sso": {**sso, "brand": {"logo_url": "http://cdn.example/l.svg"}}}, "gateway.yaml")
    assert caught.value.key == "sso.brand.logo_url"
    assert "must be an https:// URL" in caught.value.message


def test_a_token_path_only_oidc_provider_needs_no_browser_sign_on():
    """``browser_login: false``: the provider only checks bearer tokens, so no Registry login
    page is needed; one browsers sign in with still needs it."""
    from gateway.config.file import parse_config

    oidc = {
        "id": "corp",
        "type": "oidc",
        "issuer": "https://idp.example.com",
        "client_id": "gw",
        "client_secret": "s3cret",
        "tokens": {"accept_id_tokens": True},
    }
    config = parse_config({"providers": [{**oidc, "browser_login": False}]}, "gateway.yaml")
    assert not config.sso.enabled and config.providers[0].options["browser_login"] is False
    with pytest.raises(ConfigError) as caught:
        parse_config({"providers": [oidc]}, "gateway.yaml")
    assert caught.value.key == "sso.registry_login_url"
    assert "browser login" in caught.value.message
