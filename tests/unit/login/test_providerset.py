"""Unit tests (no sockets): the live provider set follows the database table within the
refresh interval, keeps unchanged providers as built, and leaves out invalid or disabled ones."""

from __future__ import annotations

import pytest

from gateway.login.providerset import FILE, ActiveProvider, LiveProviders
from gateway.storage.db import Database
from gateway.storage.providertable import ProviderTable
from gateway.tokens.cipher import KeyCipher
from providers.local.policy import PasswordPolicy
from providers.providertype import BuildContext

LDAP = {
    "servers": ["ldap://127.0.0.1:1"],
    "user": {"base": "dc=x"},
    "groups": {"strategies": ["member_of"], "nested": False},
    "bind": {"dn": "cn=s", "password": "pw-1"},
}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def parts(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    database.upgrade()
    table = ProviderTable(database, KeyCipher("s" * 40))
    context = BuildContext(
        canonical=str.lower,
        engine=database.engine,
        sessions=database.sessions,
        password_policy=PasswordPolicy(),
    )
    local = ActiveProvider("local", "local", {}, FILE, object())
    clock = Clock()
    live = LiveProviders([local], table, context, refresh_seconds=1.0, clock=clock)
    seen: list[list] = []
    live.subscribe(seen.append)
    yield table, live, clock, seen
    for provider in live.active():
        if hasattr(provider.provider, "close"):
            provider.provider.close()
    database.dispose()


def test_a_change_is_in_force_after_the_refresh_interval(parts):
    table, live, clock, seen = parts
    live.refresh()
    assert [p.id for p in live.active()] == ["local"]
    table.insert("dir", "ldap", LDAP, ("bind.password",), enabled=True, by="admin")
    live.refresh()  # within the interval: not looked at yet
    assert [p.id for p in live.active()] == ["local"]
    clock.now += 1.5
    live.refresh()
    assert [p.id for p in live.active()] == ["local", "dir"]
    assert live.active()[1].options["bind"]["password"] == "pw-1"
    assert [getattr(p, "id", None) for p in seen[-1]][1] == "dir"


def test_unchanged_providers_are_kept_as_built_and_disabled_ones_left_out(parts):
    table, live, clock, seen = parts
    table.insert("dir", "ldap", LDAP, ("bind.password",), enabled=True, by="admin")
    table.insert("other", "ldap", LDAP, ("bind.password",), enabled=True, by="admin")
    live.refresh(force=True)
    built = live.active()[1].provider
    table.set_enabled("other", False, by="admin")
    live.refresh(force=True)
    assert [p.id for p in live.active()] == ["local", "dir"]
    assert live.active()[1].provider is built


def test_an_invalid_stored_provider_is_left_out_not_fatal(parts):
    table, live, clock, seen = parts
    table.insert("bad", "ldap", {"servers": ["ftp://nope"]}, (), enabled=True, by="outside")
    table.insert("dir", "ldap", LDAP, ("bind.password",), enabled=True, by="admin")
    live.refresh(force=True)
    assert [p.id for p in live.active()] == ["local", "dir"]


def test_file_mode_never_reads_the_table(tmp_path):
    local = ActiveProvider("local", "local", {}, FILE, object())
    live = LiveProviders([local], None, None, refresh_seconds=0)  # type: ignore[arg-type]
    live.refresh(force=True)
    assert not live.editable and [p.id for p in live.active()] == ["local"]


def test_a_provider_whose_secrets_do_not_decrypt_is_left_out(parts, tmp_path):
    table, live, clock, seen = parts
    table.insert("dir", "ldap", LDAP, ("bind.password",), enabled=True, by="admin")
    other_key = ProviderTable(table._db, KeyCipher("o" * 40))
    other_key.insert(
        "plain", "ldap", {k: v for k, v in LDAP.items() if k != "bind"}, (), enabled=True, by="x"
    )
    live._table = other_key  # a process started with another GATEWAY_KEY_ENCRYPTION_KEY
    live.refresh(force=True)
    assert [p.id for p in live.active()] == ["local", "plain"]
