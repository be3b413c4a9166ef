"""Unit tests (no sockets): the public URL follows the bind address unless GATEWAY_PUBLIC_URL
sets it, in the environment and under ``serve --bind``."""

from __future__ import annotations

import pytest

from gateway.config.settings import load_settings, public_url_for_bind


@pytest.mark.parametrize(
    ("bind", "public_url"),
    [
        ("127.0.0.1:8091", "http://127.0.0.1:8091"),
        ("0.0.0.0:8080", "http://localhost:8080"),
        ("[::]:9000", "http://localhost:9000"),
        (":8080", "http://localhost:8080"),
        ("[::1]:8080", "http://[::1]:8080"),
        ("gw.lan:8080", "http://gw.lan:8080"),
    ],
)
def test_the_public_url_of_a_bind_address(bind, public_url):
    assert public_url_for_bind(bind) == public_url


def _settings(tmp_path, **environ):
    return load_settings({"GATEWAY_INSTANCE_DIR": str(tmp_path), **environ}, read_dotenv=False)


def test_without_gateway_public_url_the_public_url_follows_the_bind(tmp_path):
    settings = _settings(tmp_path, GATEWAY_BIND="0.0.0.0:8080")
    assert settings.public_url == "http://localhost:8080"
    moved = settings.with_bind("127.0.0.1:8091")  # what `gateway serve --bind` does
    assert (moved.bind, moved.public_url) == ("127.0.0.1:8091", "http://127.0.0.1:8091")


def test_an_empty_gateway_public_url_counts_as_unset(tmp_path):
    settings = _settings(tmp_path, GATEWAY_PUBLIC_URL="")
    assert settings.with_bind("127.0.0.1:8091").public_url == "http://127.0.0.1:8091"


def test_a_set_gateway_public_url_wins_over_any_bind(tmp_path):
    settings = _settings(tmp_path, GATEWAY_PUBLIC_URL="https://auth.example.org/", GATEWAY_BIND="0.0.0.0:80")
    assert settings.public_url == "https://auth.example.org"
    moved = settings.with_bind("127.0.0.1:8091")
    assert (moved.bind, moved.public_url) == ("127.0.0.1:8091", "https://auth.example.org")
