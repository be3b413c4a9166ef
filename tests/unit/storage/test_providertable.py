"""Unit tests (no sockets): the providers table (SQLite file): secrets split off and stored
encrypted with the signing keys' cipher, order, the version every change raises."""

from __future__ import annotations

import pytest

from gateway.storage.db import Database
from gateway.storage.providertable import ProviderTable, join_secrets, split_secrets
from gateway.tokens.cipher import KeyCipher

SECRET = "k" * 40
SECTION = {
    "servers": ["ldap://h"],
    "bind": {"dn": "cn=svc", "password": "hunter2-Secret"},
    "user": {"base": "dc=x"},
}


@pytest.fixture
def database(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    database.upgrade()
    yield database
    database.dispose()


def test_secrets_are_split_off_and_put_back():
    settings, secrets = split_secrets(SECTION, ("bind.password", "client_secret"))
    assert secrets == {"bind.password": "hunter2-Secret"}
    assert settings["bind"] == {"dn": "cn=svc"} and SECTION["bind"]["password"] == "hunter2-Secret"
    assert join_secrets(settings, secrets) == SECTION
    assert split_secrets({"servers": []}, ("bind.password",)) == ({"servers": []}, {})


def test_the_secret_is_stored_encrypted_and_read_back(database):
    table = ProviderTable(database, KeyCipher(SECRET))
    assert table.version() == 0
    table.insert("dir", "ldap", SECTION, ("bind.password",), enabled=True, by="admin")
    with database.engine.connect() as connection:
        settings, blob = connection.exec_driver_sql(
            "select settings, secrets from configured_providers"
        ).one()
    assert "hunter2" not in str(settings) and b"hunter2" not in blob
    stored = table.get("dir")
    assert stored is not None and stored.section == SECTION and stored.secret_keys == {"bind.password"}
    assert table.version() == 1
    other = ProviderTable(database, KeyCipher("another-" + SECRET)).get("dir")
    assert other is not None and other.secrets_unreadable and "password" not in other.section["bind"]


def test_order_ids_and_versions(database):
    table = ProviderTable(database, KeyCipher(SECRET))
    for name in ("a", "b", "c"):
        table.insert(name, "ldap", {"servers": ["ldap://h"]}, (), enabled=True, by="admin")
    with pytest.raises(KeyError):
        table.insert("a", "ldap", {}, (), enabled=True, by="admin")
    table.insert("first", "ldap", {}, (), enabled=True, by="admin", position=0)
    table.move("c", 1, by="admin")
    table.delete("b")
    table.set_enabled("a", False, by="ops")
    version, rows = table.all()
    assert [r.id for r in rows] == ["first", "c", "a"] and [r.position for r in rows] == [0, 1, 2]
    assert rows[2].enabled is False and rows[2].updated_by == "ops"
    assert version == 7
    for missing in (lambda: table.delete("b"), lambda: table.move("b", 0, by="x")):
        with pytest.raises(KeyError):
            missing()
