"""Unit tests (no sockets): the providers admins keep in the database: validation by the
type's own schema (every problem by field), secrets masked and kept, cross-provider checks,
file mode read-only, every change audited without a secret."""

from __future__ import annotations

import json

import pytest

from gateway.admin.errors import AdminError
from gateway.admin.providerconfigs import SET, ProviderConfigs, ProviderInvalid, keep_secrets, masked
from gateway.login.providerset import FILE, ActiveProvider, LiveProviders
from gateway.observe.audit import AuditLog
from gateway.storage.db import Database
from gateway.storage.providertable import ProviderTable, StoredProvider
from gateway.tokens.cipher import KeyCipher
from providers.local.policy import PasswordPolicy
from providers.providertype import BuildContext

LDAP = {
    "servers": ["ldap://127.0.0.1:1"],
    "user": {"base": "dc=x"},
    "groups": {"strategies": ["member_of"], "nested": False},
    "bind": {"dn": "cn=s", "password": "pw-Secret-1"},
}
OIDC = {
    "issuer": "https://idp.example",
    "client_id": "gw",
    "client_secret": "oidc-Secret-2",
    "tokens": {"access_token_audiences": ["api"]},
}


@pytest.fixture
def database(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    database.upgrade()
    yield database
    database.dispose()


def _configs(database, *, editable=True, sso=True, file_providers=(("local", "local", {}),)):
    table = ProviderTable(database, KeyCipher("s" * 40)) if editable else None
    context = BuildContext(
        canonical=str.lower,
        engine=database.engine,
        sessions=database.sessions,
        password_policy=PasswordPolicy(),
    )
    live = LiveProviders(
        [ActiveProvider(i, k, o, FILE, object()) for i, k, o in file_providers], table, context
    )
    return ProviderConfigs(
        table=table,
        live=live,
        file_providers=list(file_providers),
        browser_sign_on=sso,
        audit=AuditLog(database),
    )


def _audit(database) -> str:
    with database.engine.connect() as connection:
        rows = connection.exec_driver_sql("select event, provider, detail from audit_events").all()
    return json.dumps([list(map(str, row)) for row in rows])


def test_secrets_are_masked_and_kept_when_left_out(database):
    configs = _configs(database)
    item = configs.create("admin", "dir", "ldap", LDAP)
    assert item["settings"]["bind"] == {"dn": "cn=s", "password": SET} and item["active"]
    changed = {**LDAP, "bind": {"dn": "cn=other"}}
    configs.update("admin", "dir", changed)
    assert configs._table.get("dir").section["bind"] == {"dn": "cn=other", "password": "pw-Secret-1"}
    audit = _audit(database)
    assert "provider_added" in audit and "provider_changed" in audit and "Secret" not in audit


def test_keep_secrets_null_removes_and_a_removed_section_drops_it():
    row = StoredProvider("o", "oidc", 0, True, OIDC, frozenset({"client_secret"}))
    assert keep_secrets(row, {**OIDC, "client_secret": SET})["client_secret"] == "oidc-Secret-2"
    assert "client_secret" not in keep_secrets(row, {**OIDC, "client_secret": None})
    ldap = StoredProvider("d", "ldap", 0, True, LDAP, frozenset({"bind.password"}))
    assert "bind" not in keep_secrets(ldap, {"servers": ["ldap://h"], "user": {"base": "dc=x"}})
    assert masked("oidc", OIDC)["client_secret"] == SET


@pytest.mark.parametrize(
    "kind, stored, changed, field",
    [
        ("ldap", LDAP, {"servers": ["ldap://attacker.example"]}, "settings.bind.password"),
        ("ldap", LDAP, {"start_tls": True}, "settings.bind.password"),
        ("ldap", LDAP, {"tls": {"verify_hostname": False}}, "settings.bind.password"),
        ("oidc", OIDC, {"issuer": "https://attacker.example"}, "settings.client_secret"),
        ("oidc", OIDC, {"discovery_url": "https://attacker.example/.well-known/x"}, "settings.client_secret"),
    ],
)
def test_a_stored_secret_is_not_kept_when_where_it_goes_changes(kind, stored, changed, field):
    secret = "bind.password" if kind == "ldap" else "client_secret"
    row = StoredProvider("p", kind, 0, True, stored, frozenset({secret}))
    settings = {**masked(kind, stored), **changed}
    with pytest.raises(ProviderInvalid) as refused:
        keep_secrets(row, settings)
    assert set(refused.value.errors) == {field} and "enter it again" in refused.value.errors[field]

    # Typed again, it is the one sent; a default written out is no change.
    def secret_of(section):
        return section["bind"]["password"] if kind == "ldap" else section["client_secret"]

    typed = dict(settings)
    if kind == "ldap":
        typed["bind"] = {"dn": "cn=s", "password": "new"}
    else:
        typed["client_secret"] = "new"
    assert secret_of(keep_secrets(row, typed)) == "new"
    default_written = {
        **masked(kind, stored),
        **({"start_tls": False} if kind == "ldap" else {"ca_file": None}),
    }
    assert secret_of(keep_secrets(row, default_written)) == secret_of(stored)


def test_every_problem_is_named_by_field_at_once(database):
    with pytest.raises(ProviderInvalid) as refused:
        _configs(database).create("admin", "dir", "ldap", {"servers": ["ftp://x"], "pool_size": 0})
    assert {"settings.servers[0]", "settings.pool_size", "settings.user"} <= set(refused.value.errors)
    with pytest.raises(ProviderInvalid) as refused:
        _configs(database).create("admin", "Bad Id!", "local", [])
    assert set(refused.value.errors) == {"id", "type", "settings"}


def test_an_id_is_taken_once_and_the_file_providers_are_read_only(database):
    configs = _configs(database)
    configs.create("admin", "dir", "ldap", LDAP)
    for provider_id in ("dir", "local"):
        with pytest.raises(AdminError) as refused:
            configs.create("admin", provider_id, "ldap", LDAP)
        assert refused.value.status == 409
    with pytest.raises(AdminError) as refused:
        configs.delete("admin", "local")
    assert refused.value.status == 409


def test_browser_sign_in_needs_sso_and_token_routes_stay_unambiguous(database):
    with pytest.raises(ProviderInvalid) as refused:
        _configs(database, sso=False).create("admin", "corp", "oidc", OIDC)
    assert "settings.browser_login" in refused.value.errors
    configs = _configs(database)
    configs.create("admin", "corp", "oidc", OIDC)
    with pytest.raises(ProviderInvalid) as refused:
        configs.create("admin", "corp2", "oidc", OIDC)
    assert "already accepts tokens" in refused.value.message
    configs.set_enabled("admin", "corp", False)
    configs.create("admin", "corp2", "oidc", OIDC)  # the other one is off: no ambiguity
    with pytest.raises(ProviderInvalid):
        configs.set_enabled("admin", "corp", True)


def test_file_mode_refuses_every_change(database):
    configs = _configs(database, editable=False)
    assert configs.list()["source"] == "file"
    for change in (
        lambda: configs.create("admin", "dir", "ldap", LDAP),
        lambda: configs.update("admin", "dir", LDAP),
        lambda: configs.delete("admin", "dir"),
        lambda: configs.move("admin", "dir", 0),
    ):
        with pytest.raises(AdminError) as refused:
            change()
        assert refused.value.status == 409


def test_a_file_providers_secret_is_never_listed(database):
    configs = _configs(database, file_providers=(("local", "local", {}), ("dir", "ldap", LDAP)))
    listed = json.dumps(configs.list())
    assert "pw-Secret-1" not in listed and SET in listed
