"""The ``gateway`` command, run for real (``python -m gateway`` in a subprocess) against a
temporary instance directory with an embedded SQLite database.

Integration tests: every command is a separate process, as an operator would run it. Every
error path must exit with code 2 and print one line, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gateway.config.file import load_config
from gateway.config.settings import load_settings
from gateway.services import build_services
from providers.base import Identity, Rejection
from tests.support.paths import REPO_ROOT

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "tall-river-77-quiet-lamp"
PASSWORD = "purple-anchor-42-windmill"
NEW_PASSWORD = "green-harbour-19-lantern"

CONFIG = """\
providers:
  - id: local
    type: local
    hashing: {time_cost: 1, memory_cost_kib: 8192}
mapping:
  default_roles: []
  rules:
    - name: pilots
      match: {group: drone-pilots}
      roles: [pilot]
      maxStorageMB: 51200
"""


def make_env(
    tmp_path: Path,
    *,
    admin_password: str | None = ADMIN_PASSWORD,
    config: str = CONFIG,
    auto_migrate: bool = True,
) -> dict[str, str]:
    instance = tmp_path / "instance"
    instance.mkdir(parents=True, exist_ok=True)
    config_path = tmp_path / "gateway.yaml"
    config_path.write_text(config)
    env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
    env.update(
        GATEWAY_INSTANCE_DIR=str(instance),
        GATEWAY_CONFIG=str(config_path),
        GATEWAY_DOTENV="/nonexistent",
        PYTHONUNBUFFERED="1",
        GATEWAY_AUTO_MIGRATE="true" if auto_migrate else "false",
    )
    if admin_password is not None:
        env["GATEWAY_ADMIN_PASSWORD"] = admin_password
    return env


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=REPO_ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def ok(env, *args, stdin=None) -> str:
    """Run a command that must succeed; return its standard output."""
    result = run(env, *args, stdin=stdin)
    assert result.returncode == 0, f"{args}: exit {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def fails(env, *args, stdin=None) -> str:
    """Run a command that must fail cleanly: exit 2, one line on stderr, no traceback."""
    result = run(env, *args, stdin=stdin)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, f"{args}: exit {result.returncode}\n{result.stderr}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@contextlib.contextmanager
def services_for(env):
    """In-process services on the same database the CLI uses (for setup and for checks)."""
    settings = load_settings(env, read_dotenv=False)
    services = build_services(settings, load_config(settings.config_path, env))
    try:
        yield services
    finally:
        services.close()


def password_check(env, username: str, password: str):
    with services_for(env) as services:
        return services.federation.provider("local").check_password(username, password)


@pytest.fixture
def env(tmp_path):
    """An upgraded instance with its admin (prepared in-process: subprocesses are slow).
    Migrations already ran, so the commands under test skip the start-up check."""
    env = make_env(tmp_path, auto_migrate=False)
    with services_for(env) as services:
        services.prepare(migrate=True)
    return env


@pytest.fixture
def env_with_alice(env):
    """As ``env``, plus group drone-pilots and alice (alice@example.org) in it."""
    with services_for(env) as services:
        services.local_users.create_group("drone-pilots")
        services.user_operations().create(
            "alice", PASSWORD, email="alice@example.org", groups=["drone-pilots"]
        )
    return env


def test_db_upgrade_prints_a_generated_admin_password_once(tmp_path):
    env = make_env(tmp_path, admin_password=None)
    first = run(env, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    match = re.search(r"Created the local admin user 'admin' with password: (\S+)", first.stderr)
    assert match, first.stderr
    generated = match.group(1)
    assert len(generated) >= 12
    assert isinstance(password_check(env, "admin", generated), Identity)

    second = run(env, "db", "upgrade")
    assert second.returncode == 0
    assert "password" not in second.stderr.lower()
    assert generated not in second.stderr + second.stdout
    assert (tmp_path / "instance" / "gateway.db").exists()


def test_db_upgrade_with_an_admin_password_and_a_weak_one(tmp_path):
    env = make_env(tmp_path)
    result = run(env, "db", "upgrade")
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert ADMIN_PASSWORD not in result.stderr + result.stdout
    identity = password_check(env, "admin", ADMIN_PASSWORD)
    assert isinstance(identity, Identity)
    assert dict(identity.overrides) == {"roles": ["admin"]}

    weak = make_env(tmp_path / "weak", admin_password="admin")
    line = fails(weak, "db", "upgrade")
    assert line.startswith("configuration error: environment: GATEWAY_ADMIN_PASSWORD: ")
    guessable = make_env(tmp_path / "guessable", admin_password="qwertyuiopasdfgh")
    line = fails(guessable, "db", "upgrade")
    assert line == (
        "configuration error: environment: GATEWAY_ADMIN_PASSWORD: password is a keyboard pattern. "
        "The admin's password follows the password rules (at least 12 characters, not containing the "
        "username, not a commonly used password, hard to guess: strength score at least 3 of 4); choose "
        "another, or unset GATEWAY_ADMIN_PASSWORD to have one generated and printed once"
    )
    # The rule that is easiest to trip over: the admin's username inside its password.
    line = fails(make_env(tmp_path / "named", admin_password="admin-Vq9#rT4!mZ2x"), "db", "upgrade")
    assert "GATEWAY_ADMIN_PASSWORD: password must not contain the username. " in line


def test_check_config(tmp_path):
    env = make_env(tmp_path)
    out = ok(env, "check-config")
    assert out.startswith(f"configuration OK ({tmp_path / 'gateway.yaml'})")
    assert "local (local)" in out and "1 mapping rules" in out

    bad = make_env(tmp_path / "bad", config="tokens:\n  lifetme_seconds: 60\n")
    line = fails(bad, "check-config")
    assert line == (
        f"configuration error: {tmp_path / 'bad' / 'gateway.yaml'}: tokens.lifetme_seconds: unknown key; "
        "allowed: issuer, audience, algorithm, lifetime_seconds, leeway_seconds, session_lifetime_seconds"
    )
    # Every problem in one run, one line each, exit code 2.
    worse = make_env(
        tmp_path / "worse",
        config="colour: blue\nthrottle:\n  free_failures: 0\nmapping:\n  rules:\n    - {name: a}\n",
    )
    result = run(worse, "check-config")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    where = tmp_path / "worse" / "gateway.yaml"
    assert result.stderr.splitlines() == [
        f"configuration error: {where}: colour: unknown key; allowed: usernames, providers, tokens, "
        "throttle, password_policy, credential_cache, admin, sso, mapping, mapping_source, "
        "provider_source, registry, mfa, email, self_service",
        f"configuration error: {where}: throttle.free_failures: must be between 1 and 1000",
        f"configuration error: {where}: mapping.rules[0]: needs match (to grant) or require (to deny "
        "non-matching users)",
    ]
    # A YAML syntax error names the file, line and column.
    line = fails(make_env(tmp_path / "syntax", config="tokens:\n  issuer: [x\nfoo: 1\n"), "check-config")
    assert line.startswith(
        f"configuration error: {tmp_path / 'syntax' / 'gateway.yaml'}: (file): not valid YAML at line 3:4: "
    )
    # The same one-line error from a command that builds the services, for the environment.
    line = fails({**env, "GATEWAY_WORKERS": "abc"}, "users", "list")
    assert line.startswith("configuration error: environment: GATEWAY_WORKERS: ")


def test_users(env):
    assert ok(env, "groups", "create", "drone-pilots").strip() == "created group drone-pilots"
    assert (
        ok(
            env,
            "users",
            "create",
            "alice",
            "--password-stdin",
            "--group",
            "drone-pilots",
            "--email",
            "alice@example.org",
            stdin=PASSWORD + "\n",
        ).strip()
        == "created alice"
    )
    assert isinstance(password_check(env, "alice", PASSWORD), Identity)

    line = fails(env, "users", "create", "Alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert "Use 'alice' instead" in line and "in lower case" in line
    line = fails(env, "users", "create", "bob", "--password-stdin", stdin="short\n")
    assert line.startswith("error: ") and "at least 12" in line
    line = fails(
        env,
        "users",
        "create",
        "bob",
        "--password-stdin",
        "--email",
        "bob@example.org",
        stdin="abcdefghijkl\n",
    )
    assert line == "error: password is a repeated or sequential pattern"
    line = fails(env, "users", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert "already" in line

    listing = ok(env, "users", "list")
    assert re.search(r"^alice\s+enabled\s+drone-pilots$", listing, re.M)
    assert re.search(r"^admin\s+enabled", listing, re.M)
    assert not re.search(r"^(bob|Alice)\b", listing, re.M)  # nothing half-created
    shown = json.loads(ok(env, "users", "show", "alice"))
    assert shown["username"] == "alice" and shown["email"] == "alice@example.org"
    assert shown["groups"] == ["drone-pilots"] and shown["enabled"] is True

    ok(env, "users", "set-password", "alice", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert password_check(env, "alice", PASSWORD) is Rejection.WRONG_CREDENTIALS
    assert isinstance(password_check(env, "alice", NEW_PASSWORD), Identity)

    assert ok(env, "users", "disable", "alice").strip() == "disabled alice"
    assert password_check(env, "alice", NEW_PASSWORD) is Rejection.DISABLED
    assert ok(env, "users", "enable", "alice").strip() == "enabled alice"
    assert isinstance(password_check(env, "alice", NEW_PASSWORD), Identity)

    assert ok(env, "users", "delete", "alice", "--yes").strip() == "deleted alice"
    with services_for(env) as services:
        assert services.local_users.get("alice") is None
        assert services.accounts.owner_of("alice") is None  # the name is free again
    assert fails(env, "users", "show", "alice") == "error: no local user 'alice'"


def test_groups(env_with_alice):
    env = env_with_alice
    ok(env, "groups", "create", "survey-north")
    assert "already exists" in fails(env, "groups", "create", "survey-north")
    ok(env, "groups", "add-member", "survey-north", "alice")
    listing = ok(env, "groups", "list")
    assert re.search(r"^drone-pilots\s+alice$", listing, re.M)
    assert re.search(r"^survey-north\s+alice$", listing, re.M)

    ok(env, "groups", "remove-member", "drone-pilots", "alice")
    ok(env, "groups", "delete", "survey-north")
    with services_for(env) as services:
        assert services.local_users.list_groups() == [("drone-pilots", [])]
        assert services.local_users.get("alice").groups == ()
    assert fails(env, "groups", "add-member", "nope", "alice") == "error: no group 'nope'"


def _answer(explanation: str) -> dict:
    body = explanation.split("Answer:\n", 1)[1]
    return json.loads(textwrap.dedent(body))


def test_mapping_explain(env_with_alice):
    env = env_with_alice
    out = ok(env, "mapping", "explain", "alice")
    assert "identity: provider=local groups=['drone-pilots']" in out
    assert "Result: allowed" in out
    assert re.search(r"\[grant\s*\] pilots\s+matched\s+group 'drone-pilots' matched", out), out
    assert '"maxStorageMB": 51200' in out
    assert _answer(out) == {
        "username": "alice",
        "roles": ["pilot"],
        "maxStorageMB": 51200,
        "email": "alice@example.org",
    }

    out = ok(env, "mapping", "explain", "bob", "--provider", "local", "--group", "drone-pilots")
    assert "identity: provider=local groups=['drone-pilots']" in out
    assert _answer(out) == {"username": "bob", "roles": ["pilot"], "maxStorageMB": 51200}

    line = fails(env, "mapping", "explain", "nobody")
    assert line.startswith("error: no user 'nobody'")


def test_tokens_and_keys(env_with_alice):
    env = env_with_alice
    token = ok(env, "tokens", "mint", "alice").strip()
    parts = token.split(".")
    assert len(parts) == 3 and all(re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in parts), token
    with services_for(env) as services:
        verified = services.tokens.verify(token)
        assert verified.username == "alice"
        assert [s.id for s in services.sessions.list_for_user("alice")] == [verified.session_id]

    before = ok(env, "keys", "list").strip().splitlines()
    assert len(before) == 1 and "ES256" in before[0]
    assert ok(env, "keys", "rotate").startswith("new signing key ")
    after = ok(env, "keys", "list").strip().splitlines()
    assert len(after) == 2
    assert before[0].split()[0] in {line.split()[0] for line in after}

    secret = ok(env, "keys", "secret").strip()
    assert len(secret) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", secret)


def test_unreachable_database_and_wrong_key_are_one_line_errors(env_with_alice, tmp_path):
    env = env_with_alice
    # The database cannot be opened (its directory does not exist).
    gone = {**env, "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'no-such-dir' / 'gw.db'}"}
    line = fails(gone, "users", "list")
    assert line.startswith("error: database unavailable: ")
    # The signing keys were encrypted with another GATEWAY_KEY_ENCRYPTION_KEY.
    line = fails({**env, "GATEWAY_KEY_ENCRYPTION_KEY": "x" * 40}, "tokens", "mint", "alice")
    assert line.startswith("error: ") and "GATEWAY_KEY_ENCRYPTION_KEY" in line


def test_db_upgrade_from_several_replicas_at_once_on_postgresql(tmp_path, postgres_server):
    """Init containers of a first rollout start together: they take turns on the migration
    lock, and the one admin, one signing key and schema result."""
    env = make_env(tmp_path)
    env["GATEWAY_DATABASE_URL"] = postgres_server.create_database("concurrent_upgrade")
    env["GATEWAY_KEY_ENCRYPTION_KEY"] = "test-key-encryption-secret-0123456789abcdef"
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "gateway", "db", "upgrade"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(run.wait(timeout=120), run.stderr.read()) for run in runs]
    for run in runs:
        run.stdout.close()
        run.stderr.close()
    assert [code for code, _ in results] == [0, 0, 0], results
    assert not any("Traceback" in stderr for _, stderr in results)
    assert isinstance(password_check(env, "admin", ADMIN_PASSWORD), Identity)
    assert len(ok(env, "keys", "list").splitlines()) == 1  # one signing key, not three


def test_quotas_on_the_command_line_take_units(env_with_alice):
    env = env_with_alice
    ok(env, "users", "create", "carol", "--max-storage-mb", "1.5 GB", "--password-stdin", stdin=PASSWORD)
    assert _answer(ok(env, "mapping", "explain", "carol"))["maxStorageMB"] == 1536
    ok(env, "users", "set-quota", "alice", "2 tb")
    assert _answer(ok(env, "mapping", "explain", "alice"))["maxStorageMB"] == 2 * 1024 * 1024
    line = fails(env, "users", "set-quota", "alice", "5 apples")
    assert line.startswith("error: '5 apples': a quota must"), line


def test_per_user_roles_are_set_and_removed_on_the_command_line(env_with_alice):
    env = env_with_alice
    done = ok(env, "users", "set-roles", "alice", "surveyor", "mapper")
    assert done.strip() == "alice: per-user roles surveyor, mapper"
    assert sorted(_answer(ok(env, "mapping", "explain", "alice"))["roles"]) == ["mapper", "pilot", "surveyor"]
    assert "surveyor" in ok(env, "roles", "list")  # a new role name joins the catalogue, as over the API
    line = fails(env, "users", "set-roles", "alice", "surveyor", "no spaces")
    assert line.startswith("error: roles: [1] 'no spaces'"), line
    assert sorted(_answer(ok(env, "mapping", "explain", "alice"))["roles"]) == ["mapper", "pilot", "surveyor"]
    ok(env, "users", "set-roles", "alice")  # no roles: every per-user role goes
    assert _answer(ok(env, "mapping", "explain", "alice"))["roles"] == ["pilot"]  # the rules' role stays
    assert fails(env, "users", "set-roles", "nobody", "surveyor") == "error: no user 'nobody'"
