"""Unit tests (no sockets): what a hostile DroneDB Registry identity row becomes
(:mod:`gateway.registry.users`) and how a hostile SOURCE is refused
(:mod:`gateway.registry.source`). The end-to-end runs on a hostile identity.db are in
tests/integration/registry/test_import_registry.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import gateway.registry.users as registryusers
from gateway.login.usernames import UsernamePolicy
from gateway.registry.source import RegistryUser, SourceError, read_registry_users, resolve_source
from gateway.registry.users import MAX_METADATA_CHARS, interpret, registry_name
from tests.support.registrydata import aspnet_v2

NOW = datetime(2030, 6, 1, tzinfo=UTC)
HASH = aspnet_v2("tall-river-42", salt=b"s" * 16)


def user(**values) -> RegistryUser:
    fields = dict(
        id="id-1",
        username="alice",
        email=None,
        password_hash=HASH,
        roles=(),
        metadata="{}",
        lockout_end=None,
        lockout_enabled=True,
    )
    fields.update(values)
    return RegistryUser(**fields)


def run(**values):
    return interpret(user(**values), UsernamePolicy(), "admin", NOW)


def test_deep_or_huge_metadata_skips_the_user():
    deep = run(metadata="[" * 100_000)
    assert deep.target is None and "not a JSON object" in deep.skip_reason
    nested = run(metadata='{"a": ' + "[" * 100_000)
    assert nested.target is None and "not a JSON object" in nested.skip_reason
    huge = run(metadata='{"a": "' + "x" * MAX_METADATA_CHARS + '"}')
    assert huge.target is None and huge.skip_reason.startswith("Metadata too large")
    assert run(metadata=b"\xff{}").skip_reason == "its Metadata is unreadable (not UTF-8 text)"


@pytest.mark.parametrize("username", [b"\xff\xfe", 42, 1.5])
def test_a_username_that_is_not_text_is_skipped(username):
    result = run(username=username)
    assert result.target is None and result.skip_reason.startswith("its UserName is unreadable")


@pytest.mark.parametrize("username", ["eve\x00", "\x1b[31meve", "eve\n", "ev\ud800e"])
def test_a_username_with_control_characters_is_skipped_and_shown_escaped(username):
    result = run(username=username)
    assert result.skip_reason == "its UserName holds control characters"
    shown = registry_name(user(username=username))
    assert shown.isprintable() and "\\" in shown


def test_registry_name_is_short_and_printable():
    assert registry_name(user(username="Carol")) == "Carol"
    assert registry_name(user(username="\u00fcmlaut")) == "\u00fcmlaut"
    assert registry_name(user(username=None, id="\x1b]0;x\x07")).startswith("(id \\x1b")
    assert registry_name(user(username=b"\xff")) == "(id id-1)"
    assert len(registry_name(user(username="a" * 10_000))) <= 81


def test_roles_that_are_not_text_are_dropped_with_a_note():
    result = run(roles=(b"\xff\xfe", "pilot", 7, "deactivated"))
    assert result.target.overrides == {"roles": ["pilot"]} and not result.target.enabled
    assert result.notes.count("a role whose name is unreadable (not UTF-8 text) dropped") == 2


@pytest.mark.parametrize(
    "end, enabled",
    [
        ("0001-01-01 00:00:00+05:00", True),  # before year 1 in UTC: an expired lockout
        ("0001-01-01 00:00:00.0000000+14:00", True),
        ("9999-12-31 23:59:59.9999999-05:00", False),  # after year 9999 in UTC: for ever
        ("9999-12-31 23:59:59.9999999+00:00", False),  # DateTimeOffset.MaxValue, no overflow
    ],
)
def test_a_lockout_end_out_of_range_does_not_raise(end, enabled):
    result = run(lockout_end=end)
    assert result.target is not None and result.target.enabled is enabled
    assert result.notes


@pytest.mark.parametrize("end", [b"\xff", 12345, "soon"])
def test_an_unreadable_lockout_end_disables(end):
    result = run(lockout_end=end)
    assert result.target.enabled is False
    assert result.notes == ("its LockoutEnd cannot be read: imported disabled",)


@pytest.mark.parametrize(
    "email, note",
    [
        ("a\x00b@example.org", "control characters"),
        ("a@example.org\r\nBcc: x@example.org", "control characters"),
        ("a\ud800@example.org", "control characters"),
        ("a" * 310 + "@example.org", "longer than 320"),
        (b"\xff@example.org", "unreadable"),
        (42, "unreadable"),
    ],
)
def test_a_bad_email_is_dropped_with_a_note(email, note):
    result = run(email=email)
    assert result.target is not None and result.target.email is None
    assert len(result.notes) == 1 and note in result.notes[0]
    assert result.notes[0].isprintable()


def test_a_good_email_is_kept():
    assert run(email="  alice@example.org ").target.email == "alice@example.org"
    assert run(email="x" * 308 + "@example.org").target.email is not None  # 320 exactly


def test_metadata_keys_and_values_with_control_characters_are_dropped():
    result = run(
        metadata='{"team": "no\\u0000rth", "te\\u0007am": "x", "ok": "fine", '
        '"lone": "\\ud800", "tab": "a\\tb"}'
    )
    assert result.target.overrides == {"ok": "fine"}
    assert len(result.notes) == 4 and all(note.isprintable() for note in result.notes)


def test_notes_about_huge_values_are_short():
    result = run(metadata='{"maxStorageMB": "' + "9" * 100_000 + '", "' + "k" * 100_000 + '": []}')
    assert result.target is not None and len(result.notes) == 2
    assert all(len(note) < 300 for note in result.notes)


def test_an_unexpected_error_skips_the_row_as_unreadable_without_its_message(monkeypatch):
    def broken(stored):
        raise RuntimeError(f"cannot parse {stored}")

    monkeypatch.setattr(registryusers, "parse_aspnet_identity_hash", broken)
    result = run()
    assert result.target is None and result.skip_reason == "unreadable row"
    assert HASH not in repr(result)


@pytest.mark.parametrize(
    "source",
    [
        "mysql://registry:Qz7@Vk9-SECRET@127.0.0.1/RegistryAuth",
        "mysql://registry:Qz7@Vk9:SECRET@127.0.0.1:3306/RegistryAuth",
        "mysql://registry:Qz7@Vk9/SECRET@127.0.0.1/RegistryAuth",
    ],
)
def test_an_unescaped_at_in_the_password_never_shows_the_password(source):
    with pytest.raises(SourceError) as caught:
        resolve_source(source)
    message = str(caught.value)
    assert not any(part in message for part in ("Qz7", "Vk9", "SECRET", "127.0.0.1"))
    assert "percent-encode" in message and "\n" not in message


def test_a_percent_encoded_at_is_read():
    source = resolve_source("mysql://registry:p%40ss-SECRET@127.0.0.1/RegistryAuth")
    assert source.url.password == "p@ss-SECRET" and "SECRET" not in source.label


@pytest.mark.parametrize(
    "source",
    [
        "mysql://u:SECRET@h:abc/db",
        "mysql://u@[::1/db",
        "mysql://u@h:99999/db",
        "mysql://u@h:0/db",
    ],
)
def test_a_bad_port_is_a_source_error(source):
    with pytest.raises(SourceError) as caught:
        resolve_source(source)
    assert "port" in str(caught.value) and "SECRET" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bad_option_value_is_a_source_error():
    source = resolve_source("mysql://u:SECRET@127.0.0.1:1/db?read_timeout=abc")
    with pytest.raises(SourceError) as caught:
        read_registry_users(source)  # the driver reads the option before any connection
    assert "read_timeout" in str(caught.value) and "SECRET" not in str(caught.value)


def test_the_password_from_the_environment_fills_a_url_without_one():
    source = resolve_source("mysql://registry@db.example:3306/RegistryAuth", "env-SECRET")
    assert source.url.password == "env-SECRET" and source.url.username == "registry"
    assert "registry:***@db.example" in source.label and "env-SECRET" not in source.label
    given = resolve_source("mysql://registry:url-pw@db.example/RegistryAuth", "env-SECRET")
    assert given.url.password == "url-pw"  # a password in the URL wins
    anonymous = resolve_source("mysql://db.example/RegistryAuth", "env-SECRET")
    assert anonymous.url.password is None  # no user: nothing to authenticate
