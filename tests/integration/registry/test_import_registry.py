"""``gateway import-registry``: a DroneDB Registry's identity database (the Registry's table
layout, on SQLite and on a real MariaDB) imported into a gateway (SQLite, and PostgreSQL), run
as the real command (``python -m gateway`` in a subprocess), then logged in over HTTP against
the gateway under gunicorn.

Integration tests: real files, a real MariaDB and PostgreSQL, a real gunicorn.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from gateway.config.file import load_config
from gateway.config.settings import load_settings
from gateway.services import build_services
from gateway.storage.models import AuditEvent, Role
from providers.base import Identity, Rejection
from providers.local.models import LocalUser
from tests.support.harness import gateway_env, seed
from tests.support.paths import REPO_ROOT
from tests.support.registrydata import IdentityDatabase, aspnet_v2, aspnet_v3
from tests.support.servers import GunicornGateway, free_port

pytestmark = pytest.mark.integration

CONFIG = """
providers:
  - id: local
    type: local
    hashing: {time_cost: 1, memory_cost_kib: 8192}
mapping:
  default_roles: []
  expose: [email]
"""


def password(name: str) -> str:
    return f"{name}-tall-river-42"


# Registry user name -> how to add it; see fill_registry.
IMPORTED = {"alice", "bob", "carol", "erin", "frank", "gina"}
SKIPPED = {"admin", "nohash", "badhash", "badmeta", "\u00fcmlaut", "ldapuser"}


def fill_registry(db: IdentityDatabase) -> dict[str, str]:
    """The Registry's users for these tests; returns their stored hashes by user name."""
    now = datetime.now(UTC)
    hashes = {
        "alice": aspnet_v3(password("alice"), "sha512", 100_000),  # .NET 7+ default
        "bob": aspnet_v2(password("bob")),
        "Carol": aspnet_v3(password("carol"), "sha256", 10_000),  # .NET Core default
        "erin": aspnet_v2(password("erin")),
        "frank": aspnet_v3(password("frank"), "sha512", 1000),
        "gina": aspnet_v3(password("gina"), "sha1", 1000, subkey_length=40),
        "admin": aspnet_v3(password("admin")),
        "badmeta": aspnet_v2(password("badmeta")),
        "\u00fcmlaut": aspnet_v2(password("umlaut")),
        "ldapuser": aspnet_v2(password("ldapuser")),
        "gatewayonly": aspnet_v2(password("registry-gatewayonly")),
    }
    db.add_user(
        "alice", hashes["alice"], email="alice@example.org", roles=["admin"], metadata={"maxStorageMB": 10240}
    )
    db.add_user(
        "bob",
        hashes["bob"],
        email="bob@example.org",
        roles=["surveyor", "pilot"],
        metadata={"maxStorageMB": 512, "team": "north"},
    )
    db.add_user(
        "Carol",
        hashes["Carol"],
        metadata={
            "maxStorageMB": 2048.0,
            "level": 3,
            "pro": True,
            "nested": {"a": 1},
            "gone": None,
            "roles": ["ignored"],
            "username": "ignored",
        },
    )
    db.add_user("erin", hashes["erin"], roles=["deactivated", "pilot"])
    db.add_user("frank", hashes["frank"], lockout_end=datetime(2099, 1, 1, tzinfo=UTC))
    db.add_user("gina", hashes["gina"], lockout_end=now + timedelta(minutes=3))
    db.add_user("admin", hashes["admin"], email="admin@example.com", roles=["admin"])
    db.add_user("nohash", None)
    db.add_user("badhash", "10000.c2FsdHNhbHQ=.a2V5a2V5")  # the Registry's dataset-password format
    db.add_user("badmeta", hashes["badmeta"], metadata="{not json")
    db.add_user("\u00fcmlaut", hashes["\u00fcmlaut"])
    db.add_user("ldapuser", hashes["ldapuser"])
    db.add_user("gatewayonly", hashes["gatewayonly"], email="other@example.org")
    return hashes


class Gateway:
    """A gateway instance directory (config, database) and the CLI run against it."""

    def __init__(self, tmp_path: Path, database_url: str | None = None):
        self.env = gateway_env(tmp_path / "instance", CONFIG, database_url=database_url)
        self.tmp_path = tmp_path

    def prepare(self) -> Gateway:
        """Migrate, create the admin, a gateway user of its own and a directory-owned name."""
        seed(self.env, [{"username": "gatewayonly", "email": "gw@example.org"}])
        services = self.services()
        try:
            services.accounts.claim(
                Identity(provider="directory", subject="uid=ldapuser", username="ldapuser")
            )
        finally:
            services.close()
        return self

    def run(self, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("GATEWAY_") and k != "REGISTRY_DB_PASSWORD"
        }
        env.update(self.env, PYTHONUNBUFFERED="1")
        env.update(extra_env or {})
        return subprocess.run(
            [sys.executable, "-m", "gateway", *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def imports(self, source: str, *options: str, extra_env: dict[str, str] | None = None) -> str:
        result = self.run("import-registry", source, *options, extra_env=extra_env)
        assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr
        return result.stdout

    def import_json(self, source: str, *options: str) -> dict:
        return json.loads(self.imports(source, "--json", *options))

    def services(self):
        settings = load_settings(self.env, read_dotenv=False)
        return build_services(settings, load_config(settings.config_path, self.env))

    def local_users(self) -> dict[str, LocalUser]:
        services = self.services()
        try:
            with services.database.sessions() as session:
                return {u.username: u for u in session.scalars(select(LocalUser))}
        finally:
            services.close()

    def audit(self, event: str) -> list[AuditEvent]:
        services = self.services()
        try:
            with services.database.sessions() as session:
                return list(session.scalars(select(AuditEvent).where(AuditEvent.event == event)))
        finally:
            services.close()

    def check_password(self, username: str, secret: str):
        services = self.services()
        try:
            return services.federation.provider("local").check_password(username, secret)
        finally:
            services.close()


def actions(report: dict) -> dict[str, str]:
    return {user["registryUserName"]: user["action"] for user in report["users"]}


@pytest.fixture
def registry(tmp_path):
    """The Registry's identity.db (SQLite), filled; yields (path, hashes)."""
    path = tmp_path / "registry" / "identity.db"
    path.parent.mkdir()
    db = IdentityDatabase(f"sqlite:///{path}").create()
    hashes = fill_registry(db)
    db.dispose()
    yield path, hashes


@pytest.fixture
def gateway(tmp_path):
    return Gateway(tmp_path / "gateway").prepare()


def test_dry_run_lists_the_changes_and_writes_nothing(registry, gateway):
    path, hashes = registry
    before = gateway.local_users()
    output = gateway.imports(str(path), "--dry-run")

    lines = output.splitlines()
    assert (
        "create    alice: roles admin; maxStorageMB 10240; "
        "ASP.NET Identity V3 (HMAC-SHA512, 100000 iterations)"
    ) in lines
    assert (
        "create    bob: roles pilot,surveyor; maxStorageMB 512; "
        "ASP.NET Identity V2 (HMAC-SHA1, 1000 iterations)" in lines
    )
    assert any(line.startswith("create    carol (Registry: Carol): no roles;") for line in lines)
    assert any(line.startswith("create    erin: roles pilot; DISABLED;") for line in lines)
    assert any(line.startswith("skipped   admin: the gateway's own admin") for line in lines)
    assert "skipped   nohash: no password in the Registry" in lines
    assert any(line.startswith("skipped   badhash: the password hash is not") for line in lines)
    assert any(line.startswith("skipped   badmeta: its Metadata is not a JSON object") for line in lines)
    assert any(line.startswith("skipped   \u00fcmlaut: not a username") for line in lines)
    assert "skipped   ldapuser: the username belongs to provider 'directory'" in lines
    assert any(line.startswith("kept      gatewayonly: a gateway user") for line in lines)
    assert (
        "          note: maxStorageMB 2048.0 is not a whole number of MB (the Registry "
        "treated it as unlimited): not imported" in lines
    )
    assert f"6 to create, 0 to update, 0 unchanged, 1 kept, 6 skipped (from {path})" in lines
    assert lines[-1] == "dry run: nothing written"
    assert not any(stored in output for stored in hashes.values())

    report = gateway.import_json(str(path), "--dry-run")
    assert report["dryRun"] is True
    assert report["summary"] == {"create": 6, "update": 0, "unchanged": 0, "kept": 1, "skipped": 6}
    assert gateway.local_users().keys() == before.keys() == {"admin", "gatewayonly"}
    assert not [e for e in gateway.audit("user_created") if e.detail.get("source")]


def test_import_lands_users_and_a_rerun_changes_nothing(registry, gateway):
    path, hashes = registry
    report = gateway.import_json(str(path))
    assert report["dryRun"] is False
    assert {name for name, action in actions(report).items() if action == "create"} == {
        "alice",
        "bob",
        "Carol",
        "erin",
        "frank",
        "gina",
    }
    assert {name for name, action in actions(report).items() if action == "skipped"} == SKIPPED
    assert actions(report)["gatewayonly"] == "kept"
    assert not any(stored in json.dumps(report) for stored in hashes.values())
    carol = next(user for user in report["users"] if user["registryUserName"] == "Carol")
    assert carol["userName"] == "carol" and carol["metadata"] == {"level": 3, "pro": True}
    assert len(carol["notes"]) == 3  # the quota, "nested" and "gone"

    users = gateway.local_users()
    assert users["alice"].email == "alice@example.org"
    assert users["alice"].overrides == {"roles": ["admin"], "maxStorageMB": 10240}
    assert users["alice"].password_hash == hashes["alice"]
    assert users["bob"].overrides == {"roles": ["pilot", "surveyor"], "maxStorageMB": 512, "team": "north"}
    assert users["carol"].overrides == {"level": 3, "pro": True} and users["carol"].email is None
    assert users["erin"].overrides == {"roles": ["pilot"]}
    assert sorted(name for name, user in users.items() if not user.enabled) == ["erin", "frank"]
    assert users["gina"].enabled  # a lockout of minutes is the Registry's failed-login pause
    assert users["gatewayonly"].email == "gw@example.org"  # kept as it was
    assert users["gatewayonly"].password_hash.startswith("$argon2id$")

    services = gateway.services()
    try:
        owners = {owner.username: owner for owner in services.accounts.list()}
        with services.database.sessions() as session:
            roles = set(session.scalars(select(Role.name)))
    finally:
        services.close()
    assert owners["erin"].disabled and owners["frank"].disabled and not owners["alice"].disabled
    assert owners["alice"].provider == "local" and owners["ldapuser"].provider == "directory"
    assert {"pilot", "surveyor"} <= roles
    imported = {
        e.username for e in gateway.audit("user_created") if e.detail.get("source") == "registry-import"
    }
    assert imported == {"alice", "bob", "carol", "erin", "frank", "gina"}

    again = gateway.import_json(str(path))
    assert again["summary"] == {"create": 0, "update": 0, "unchanged": 6, "kept": 1, "skipped": 6}
    assert {name for name, action in actions(again).items() if action == "unchanged"} == {
        "alice",
        "bob",
        "Carol",
        "erin",
        "frank",
        "gina",
    }
    assert gateway.local_users()["alice"].updated_at == users["alice"].updated_at


def test_a_changed_registry_row_updates_only_users_untouched_at_the_gateway(registry, gateway, tmp_path):
    path, _ = registry
    gateway.imports(str(path))
    # carol logs in at the gateway (her hash becomes argon2id); an admin edits alice.
    assert isinstance(gateway.check_password("carol", password("carol")), Identity)
    services = gateway.services()
    try:
        services.local_users.set_overrides("alice", {"roles": ["admin"], "maxStorageMB": 20480})
    finally:
        services.close()

    db = IdentityDatabase(f"sqlite:///{path}")
    db.change_user(
        "bob",
        email="robert@example.org",
        roles=["pilot"],
        password_hash=aspnet_v3(password("bob2"), "sha256", 20_000),
        metadata={"maxStorageMB": 1024},
    )
    db.change_user("erin", roles=["pilot", "admin"])  # no longer deactivated
    db.change_user("Carol", email="carol@example.org")
    db.change_user("alice", roles=["admin", "pilot"])
    db.dispose()

    output = gateway.imports(str(path))
    assert "update    bob: changes: email, roles, maxStorageMB, metadata, password" in output
    assert "update    erin: changes: enabled, roles" in output
    assert re.search(
        r"^kept      carol \(Registry: Carol\): a gateway user whose password is "
        r"the gateway's own",
        output,
        re.M,
    )
    assert "kept      alice: changed in the gateway since the import: not overwritten" in output
    assert "0 created, 2 updated, 2 unchanged, 3 kept, 6 skipped" in output

    users = gateway.local_users()
    assert users["bob"].email == "robert@example.org"
    assert users["bob"].overrides == {"roles": ["pilot"], "maxStorageMB": 1024}
    assert users["erin"].enabled and users["erin"].overrides == {"roles": ["admin", "pilot"]}
    assert users["alice"].overrides == {"roles": ["admin"], "maxStorageMB": 20480}
    assert users["carol"].email is None and users["carol"].password_hash.startswith("$argon2id$")
    updated = {e.username: e.detail for e in gateway.audit("user_updated")}
    assert updated["bob"]["source"] == "registry-import" and "password" in updated["bob"]["fields"]

    assert gateway.check_password("bob", password("bob")) is Rejection.WRONG_CREDENTIALS
    assert isinstance(gateway.check_password("bob", password("bob2")), Identity)
    assert isinstance(gateway.check_password("erin", password("erin")), Identity)
    services = gateway.services()
    try:
        assert not services.accounts.owner_of("erin").disabled
    finally:
        services.close()
    # Once logged in, the gateway holds bob: a further Registry change no longer applies.
    db = IdentityDatabase(f"sqlite:///{path}")
    db.change_user("bob", email="bob@example.org")
    db.dispose()
    assert actions(gateway.import_json(str(path)))["bob"] == "kept"


def test_imported_users_log_in_over_http_and_get_argon2id(registry, gateway):
    path, hashes = registry
    gateway.imports(str(path))
    server = GunicornGateway.start(
        gateway.tmp_path / "gunicorn",
        env=gateway.env,
        workers=1,
        extra_args=["-c", str(REPO_ROOT / "deploy" / "gunicorn.conf.py")],
    )
    http = requests.Session()
    http.trust_env = False

    def login(username: str, secret: str) -> requests.Response:
        return http.post(
            f"{server.base_url}/api/authenticate",
            timeout=30,
            data={"username": username, "password": secret},
            headers={"Accept": "application/json"},
        )

    try:
        wrong = login("gina", "not-" + password("gina"))  # V3 HMAC-SHA1, never logged in
        assert wrong.status_code == 401
        for name, roles, quota in (("alice", ["admin"], 10240), ("bob", ["pilot", "surveyor"], 512)):
            first = login(name, password(name))
            assert first.status_code == 200, first.text
            answer = first.json()
            assert answer["username"] == name and answer["roles"] == roles
            assert answer["maxStorageMB"] == quota and type(answer["maxStorageMB"]) is int
            stored = gateway.local_users()[name].password_hash
            assert stored.startswith("$argon2id$") and stored != hashes[name]
            assert login(name, password(name)).status_code == 200
            assert login(name, password(name) + "x").status_code == 401
        assert login("bob", password("bob")).json()["team"] == "north"
        carol = login("carol", password("carol"))
        assert carol.status_code == 200 and "maxStorageMB" not in carol.json()
        assert carol.json()["level"] == 3 and carol.json()["pro"] is True
        assert login("Carol", password("carol")).status_code == 401  # only the canonical name
        assert login("erin", password("erin")).status_code == 403  # deactivated in the Registry
        assert login("admin", password("admin")).status_code == 401  # the gateway's own admin
        assert gateway.local_users()["gina"].password_hash == hashes["gina"]
    finally:
        http.close()
        server.stop()


def test_unreadable_sources_fail_with_one_line(gateway, tmp_path):
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a database\n" * 100)
    empty = tmp_path / "empty.db"
    IdentityDatabase(f"sqlite:///{empty}").engine.connect().close()
    half = tmp_path / "half.db"
    with sqlite3.connect(half) as connection:
        connection.executescript(
            'CREATE TABLE "AspNetUsers" ("Id" TEXT, "UserName" TEXT);'
            'CREATE TABLE "AspNetRoles" ("Id" TEXT, "Name" TEXT);'
            'CREATE TABLE "AspNetUserRoles" ("UserId" TEXT, "RoleId" TEXT);'
        )
    closed = free_port()
    cases = {
        str(tmp_path / "missing.db"): "no such file",
        str(text_file): "file is not a database",
        str(empty): "no table AspNetUsers, AspNetRoles, AspNetUserRoles",
        str(half): "AspNetUsers has no column PasswordHash",
        f"mysql://registry:s3cret-pw@127.0.0.1:{closed}/RegistryAuth": "Can't connect",
        "postgresql://u@127.0.0.1/x": "unsupported database 'postgresql'",
    }
    for source, expected in cases.items():
        assert_one_line_error(gateway, source, expected, "s3cret-pw")
    assert gateway.local_users().keys() == {"admin", "gatewayonly"}


def test_dry_run_on_a_gateway_without_tables_writes_nothing(registry, tmp_path):
    path, _ = registry
    fresh = Gateway(tmp_path / "fresh")
    result = fresh.run("import-registry", str(path), "--dry-run")
    assert result.returncode == 2 and "run `gateway db upgrade` first" in result.stderr
    for database in (tmp_path / "fresh" / "instance").glob("*.db"):  # opening SQLite makes a file
        with sqlite3.connect(database) as connection:
            assert connection.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)


def test_mariadb_registry_into_a_postgresql_gateway(mariadb_server, postgres_server, tmp_path):
    url = mariadb_server.create_database("RegistryAuth")
    db = IdentityDatabase(url).create()
    hashes = fill_registry(db)
    db.dispose()
    gateway = Gateway(tmp_path, postgres_server.create_database("import_registry")).prepare()
    source = url.replace("mysql+pymysql://", "mysql://")  # rewritten to PyMySQL
    password_in_url = url.split(":")[2].split("@")[0]

    dry = gateway.imports(source, "--dry-run")
    assert "6 to create, 0 to update, 0 unchanged, 1 kept, 6 skipped" in dry
    assert password_in_url not in dry and "registry:***@" in dry
    assert gateway.local_users().keys() == {"admin", "gatewayonly"}

    report = gateway.import_json(source)
    assert report["summary"] == {"create": 6, "update": 0, "unchanged": 0, "kept": 1, "skipped": 6}
    users = gateway.local_users()
    assert users["alice"].overrides == {"roles": ["admin"], "maxStorageMB": 10240}
    assert users["carol"].overrides == {"level": 3, "pro": True}
    assert not users["frank"].enabled and users["gina"].enabled  # LockoutEnd as MySQL datetime
    assert users["bob"].password_hash == hashes["bob"]

    # The password from REGISTRY_DB_PASSWORD, not the command line (where `ps` shows it).
    without = source.replace(f":{password_in_url}@", "@").replace("mysql://", "mariadb://")
    assert password_in_url not in without
    again = json.loads(
        gateway.imports(without, "--json", extra_env={"REGISTRY_DB_PASSWORD": password_in_url})
    )
    assert "registry:***@" in again["source"]
    assert again["summary"] == {"create": 0, "update": 0, "unchanged": 6, "kept": 1, "skipped": 6}

    assert isinstance(gateway.check_password("bob", password("bob")), Identity)
    assert gateway.local_users()["bob"].password_hash.startswith("$argon2id$")
    assert isinstance(gateway.check_password("bob", password("bob")), Identity)
    assert gateway.check_password("alice", "wrong") is Rejection.WRONG_CREDENTIALS


# -- a hostile identity database -------------------------------------------------------------


def hostile_registry(path: Path) -> dict[str, str]:
    """An identity.db whose cells a careless or hostile Registry admin could have written:
    cells that once crashed the import or would have imported values the gateway cannot
    serve. Returns the good users' hashes by user name."""
    db = IdentityDatabase(f"sqlite:///{path}").create()
    hashes = {
        name: aspnet_v2(password(name))
        for name in (
            "deep",
            "blobname",
            "undecodable",
            "roley",
            "early",
            "forever",
            "mailer",
            "metakeys",
            "nul",
            "escape",
            "huge",
            "toolong",
        )
    }
    db.add_user("deep", hashes["deep"], metadata="[" * 100_000)  # RecursionError in json
    db.add_user("huge", hashes["huge"], metadata='{"a": "' + "x" * (1024 * 1024) + '"}')
    db.add_user(b"blobname", hashes["blobname"])  # a BLOB that is UTF-8
    db.add_user(b"\xff\xfeundecodable", hashes["undecodable"])  # a BLOB that is not
    db.add_user("roley", hashes["roley"], roles=[b"\xff\xfe", "pilot"])
    db.add_user("early", hashes["early"], lockout_end=datetime(2099, 1, 1, tzinfo=UTC))
    db.add_user("forever", hashes["forever"])
    db.add_user("mailer", hashes["mailer"], email="mailer\x00@example.org")
    db.add_user("toolong", hashes["toolong"], email="t" * 400 + "@example.org")
    db.add_user(
        "metakeys", hashes["metakeys"], metadata={"te\x00am": "north", "site": "no\x07rth", "zone": "ok"}
    )
    db.add_user("nul\x00", hashes["nul"])
    db.add_user("\x1b[2Jescape", hashes["escape"])
    db.dispose()
    with sqlite3.connect(path) as connection:  # what the helpers cannot write
        connection.execute(
            'UPDATE "AspNetUsers" SET "LockoutEnd" = ? WHERE "UserName" = ?',
            ("0001-01-01 00:00:00+05:00", "early"),
        )
        connection.execute(
            'UPDATE "AspNetUsers" SET "LockoutEnd" = ? WHERE "UserName" = ?',
            ("9999-12-31 23:59:59.9999999-05:00", "forever"),
        )
        # A TEXT cell that is not UTF-8 (sqlite3 refuses to read it as str).
        connection.execute(
            'UPDATE "AspNetUsers" SET "Email" = CAST(X\'ff41\' AS TEXT) WHERE "UserName" = ?', ("roley",)
        )
    return hashes


def test_a_hostile_identity_db_is_imported_without_a_traceback(gateway, tmp_path):
    path = tmp_path / "hostile.db"
    hashes = hostile_registry(path)

    result = gateway.run("import-registry", str(path))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    output = result.stdout
    assert all(line.isprintable() for line in output.splitlines())  # no escape reaches a terminal
    assert not any(stored in output for stored in hashes.values())
    lines = output.splitlines()
    assert any(line.startswith("skipped   deep: its Metadata is not a JSON object") for line in lines)
    assert any(line.startswith("skipped   huge: Metadata too large") for line in lines)
    assert re.search(r"^skipped   \(id [0-9a-f-]+\): its UserName is unreadable", output, re.M)
    assert "skipped   nul\\x00: its UserName holds control characters" in lines
    assert "skipped   \\x1b[2Jescape: its UserName holds control characters" in lines
    assert "create    blobname: no roles; ASP.NET Identity V2 (HMAC-SHA1, 1000 iterations)" in lines
    assert "          note: a role whose name is unreadable (not UTF-8 text) dropped" in lines
    assert "          note: its Email is unreadable (not UTF-8 text): not imported" in lines
    assert "          note: its LockoutEnd is before year 1 in UTC: treated as no lockout" in lines
    assert "          note: its LockoutEnd is after year 9999 in UTC: imported disabled" in lines
    assert (
        "          note: its Email 'mailer\\x00@example.org' holds control characters: not imported" in lines
    )
    assert "          note: its Email is longer than 320 characters: not imported" in lines
    assert "          note: metadata 'te\\x00am' dropped: its key holds control characters" in lines
    assert "          note: metadata 'site' dropped: its value holds control characters" in lines
    assert "7 created, 0 updated, 0 unchanged, 0 kept, 5 skipped" in output

    users = gateway.local_users()
    assert users["blobname"].password_hash == hashes["blobname"]
    assert users["roley"].overrides == {"roles": ["pilot"]} and users["roley"].email is None
    assert users["early"].enabled and not users["forever"].enabled
    assert users["mailer"].email is None and users["toolong"].email is None
    assert users["metakeys"].overrides == {"zone": "ok"}
    assert not {"deep", "huge", "nul", "undecodable"} & users.keys()

    report = gateway.import_json(str(path), "--dry-run")
    assert report["summary"] == {"create": 0, "update": 0, "unchanged": 7, "kept": 0, "skipped": 5}
    assert all(user["registryUserName"].isprintable() for user in report["users"])
    assert isinstance(gateway.check_password("blobname", password("blobname")), Identity)


def test_a_value_the_gateway_database_refuses_skips_that_user_and_the_run_goes_on(registry, gateway):
    """A DataError on one user's write (here SQLite's "string or blob too big"; on PostgreSQL
    e.g. a value it refuses) skips that user with the reason; the users after it are written."""
    from sqlalchemy import event

    path, hashes = registry
    db = IdentityDatabase(f"sqlite:///{path}")
    db.add_user("bigvalue", aspnet_v2(password("bigvalue")), metadata={"notes": "n" * 5000})
    db.dispose()
    services = gateway.services()
    try:
        engine = services.database.engine

        @event.listens_for(engine, "connect")
        def small_limit(connection, _record):
            connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 4000)

        engine.dispose()  # new connections get the limit
        report = services.registry_import().run(str(path), dry_run=False)
    finally:
        services.close()
    outcomes = {o.registry_username: o for o in report.outcomes}
    assert outcomes["bigvalue"].action == "skipped"
    assert outcomes["bigvalue"].reason == ("the gateway's database refused a value: string or blob too big")
    assert outcomes["bob"].action == "create"  # after bigvalue in the run
    assert report.counts()["create"] == 6
    users = gateway.local_users()
    assert "bigvalue" not in users and users["bob"].password_hash == hashes["bob"]
    services = gateway.services()
    try:
        assert services.accounts.owner_of("bigvalue") is None  # no half user
    finally:
        services.close()


def test_source_urls_that_would_leak_or_crash_fail_with_one_line(gateway):
    closed = free_port()
    cases = {
        f"mysql://registry:Qz7@Vk9-pw@127.0.0.1:{closed}/RegistryAuth": "percent-encode",
        f"mysql://registry:Qz7@Vk9:pw@127.0.0.1:{closed}/RegistryAuth": "percent-encode",
        "mysql://registry:Qz7Vk9-pw@127.0.0.1:abc/RegistryAuth": "port",
        "mysql://registry:Qz7Vk9-pw@[::1/RegistryAuth": "port",
        "mysql://registry:Qz7Vk9-pw@127.0.0.1:99999/RegistryAuth": "port",
        f"mysql://registry:Qz7Vk9-pw@127.0.0.1:{closed}/RegistryAuth?read_timeout=abc": "read_timeout",
    }
    for source, expected in cases.items():
        assert_one_line_error(gateway, source, expected, "Qz7", "Vk9")


def test_the_registry_db_password_can_come_from_the_environment(gateway):
    closed = free_port()
    result = gateway.run(
        "import-registry",
        f"mysql://registry@127.0.0.1:{closed}/RegistryAuth",
        extra_env={"REGISTRY_DB_PASSWORD": "env-s3cret-pw"},
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"registry:***@127.0.0.1:{closed}/RegistryAuth" in result.stderr  # it was used
    assert "env-s3cret-pw" not in result.stderr
    without = gateway.run("import-registry", f"mysql://registry@127.0.0.1:{closed}/RegistryAuth")
    assert f"mysql+pymysql://registry@127.0.0.1:{closed}/RegistryAuth" in without.stderr


def assert_one_line_error(gateway, source: str, expected: str, *secrets: str) -> None:
    """``import-registry SOURCE`` fails with exit 2 and one line naming ``expected``, without
    a traceback or any of ``secrets``."""
    result = gateway.run("import-registry", source)
    assert result.returncode == 2, (source, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], (source, result.stderr)
    assert lines[0].startswith("error: cannot read the Registry's users: ")
    assert "Traceback" not in result.stderr
    assert not any(secret in result.stderr for secret in secrets)
