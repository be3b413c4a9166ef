"""The ``registry:`` section parser (gateway/registry/settings.py): defaults, the password from
the environment, and a ConfigError naming the dotted key for every bad value."""

from __future__ import annotations

import pytest

from gateway.config.errors import ConfigError
from gateway.registry.settings import RegistrySettings, parse_registry_settings

ENV = {"REGISTRY_SYNC_PASSWORD": "s3cret-sync-pass"}


def section(**changes):
    data = {
        "url": "https://hub.example.org/",
        "service_account": {"username": "gateway-sync", "password_env": "REGISTRY_SYNC_PASSWORD"},
    }
    data.update(changes)
    return data


def error_of(data, environ=ENV) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_registry_settings(data, "gateway.yaml", environ)
    return caught.value


def test_an_absent_section_means_no_registry_client():
    assert parse_registry_settings(None, "gateway.yaml", ENV) is None


def test_defaults_and_the_password_from_the_environment():
    settings = parse_registry_settings(section(), "gateway.yaml", ENV)
    assert settings == RegistrySettings(
        url="https://hub.example.org", username="gateway-sync", password="s3cret-sync-pass"
    )
    assert settings.verify is True
    assert settings.timeout == (5.0, 15.0)
    assert settings.renew_before_seconds == 300
    assert "s3cret" not in repr(settings)


def test_every_option(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = parse_registry_settings(
        section(
            url="http://registry:5000",
            service_account={"username": "sync", "password": "expanded-by-the-file"},
            ca_file=str(ca),
            connect_timeout_seconds=2,
            read_timeout_seconds=7.5,
            renew_before_seconds=0,
        ),
        "gateway.yaml",
        {},
    )
    assert settings.password == "expanded-by-the-file"
    assert settings.verify == str(ca)
    assert settings.timeout == (2.0, 7.5)
    assert settings.renew_before_seconds == 0


def test_verification_can_be_turned_off_for_a_test_registry():
    assert parse_registry_settings(section(verify_tls=False), "f", ENV).verify is False


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ("https://x", "registry", "must be a mapping"),
        (section(urls="x"), "registry.urls", "unknown key"),
        ({"service_account": {"username": "u", "password": "p"}}, "registry.url", "is required"),
        (section(url="ftp://hub"), "registry.url", "http:// or https://"),
        (section(url="https://"), "registry.url", "with a host"),
        (section(url="https://hub/?a=1"), "registry.url", "no query"),
        (section(url="https://u:p@hub"), "registry.url", "credentials"),
        (section(url=5), "registry.url", "must be a URL"),
        (section(service_account=None), "registry.service_account", "is required"),
        (section(service_account="sync"), "registry.service_account", "must be a mapping"),
        (section(service_account={"password": "p"}), "registry.service_account.username", "is required"),
        (section(service_account={"username": "u"}), "registry.service_account", "exactly one"),
        (
            section(service_account={"username": "u", "password": "p", "password_env": "X"}),
            "registry.service_account",
            "exactly one",
        ),
        (
            section(service_account={"username": "u", "password_env": "MISSING"}),
            "registry.service_account.password_env",
            "MISSING is not set",
        ),
        (
            section(service_account={"username": "u", "password": ""}),
            "registry.service_account.password",
            "non-empty",
        ),
        (
            section(service_account={"username": "u", "password": "p", "token": "t"}),
            "registry.service_account.token",
            "unknown key",
        ),
        (section(verify_tls="yes"), "registry.verify_tls", "true or false"),
        (section(ca_file="/nonexistent/ca.pem"), "registry.ca_file", "no such file"),
        (section(ca_file=""), "registry.ca_file", "CA bundle"),
        (section(connect_timeout_seconds=0), "registry.connect_timeout_seconds", "more than 0"),
        (section(read_timeout_seconds=301), "registry.read_timeout_seconds", "at most 300"),
        (section(read_timeout_seconds="15"), "registry.read_timeout_seconds", "a number"),
        (section(connect_timeout_seconds=True), "registry.connect_timeout_seconds", "a number"),
        (section(renew_before_seconds=1.5), "registry.renew_before_seconds", "whole number"),
        (section(renew_before_seconds=-1), "registry.renew_before_seconds", "at most"),
    ],
)
def test_bad_values_name_the_key(data, key, words):
    error = error_of(data)
    assert error.source == "gateway.yaml" and error.key == key
    assert words in error.message


def test_a_ca_file_with_verification_off_is_refused(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    error = error_of(section(ca_file=str(ca), verify_tls=False))
    assert error.key == "registry.ca_file" and "verify_tls" in error.message


def test_the_password_never_appears_in_an_error():
    error = error_of(section(service_account={"username": "u", "password": "hunter2-pass"}, url="x"))
    assert "hunter2" not in str(error)


def test_organizations_and_storage_refresh_options():
    base = {"url": "https://hub.example.org", "service_account": {"username": "s", "password": "p"}}
    defaults = parse_registry_settings(base)
    assert defaults.create_missing_organizations is False and defaults.storage_refresh_seconds == 300
    chosen = parse_registry_settings(
        {**base, "organizations": {"create_missing": True}, "storage_refresh_seconds": 60}
    )
    assert chosen.create_missing_organizations is True and chosen.storage_refresh_seconds == 60
    for bad, key in (
        ({"organizations": {"create_missing": "yes"}}, "registry.organizations.create_missing"),
        ({"organizations": {"create": True}}, "registry.organizations.create"),
        ({"organizations": True}, "registry.organizations"),
        ({"storage_refresh_seconds": 5}, "registry.storage_refresh_seconds"),
    ):
        with pytest.raises(ConfigError) as error:
            parse_registry_settings({**base, **bad})
        assert key in str(error.value)
