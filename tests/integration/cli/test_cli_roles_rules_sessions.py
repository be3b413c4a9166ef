"""Integration tests: ``gateway roles``, ``gateway mapping rules``, ``gateway sessions list`` and
``gateway groups list`` when empty, run as the operator runs them (a subprocess, SQLite)."""

from __future__ import annotations

import pytest

from tests.integration.cli.test_cli import PASSWORD, fails, make_env, ok

pytestmark = pytest.mark.integration


def test_groups_list_says_so_when_there_are_none(tmp_path):
    assert ok(make_env(tmp_path), "groups", "list") == "no groups\n"


def test_roles_list_create_delete(tmp_path):
    env = make_env(tmp_path)
    lines = ok(env, "roles", "list").splitlines()
    assert any(line.split()[:3] == ["admin", "admin", "role"] for line in lines), lines
    assert any(line.split()[0] == "pilot" and "granted by pilots" in line for line in lines), lines

    assert (
        ok(env, "roles", "create", "surveyor", "--description", "flies surveys") == "created role surveyor\n"
    )
    assert any(
        line.split()[0] == "surveyor" and line.endswith("flies surveys")
        for line in ok(env, "roles", "list").splitlines()
    )
    assert fails(env, "roles", "create", "surveyor") == "error: role 'surveyor' already exists"
    assert fails(env, "roles", "delete", "admin").startswith("error: 'admin' is the admin role")
    assert fails(env, "roles", "delete", "pilot").startswith(
        "error: role 'pilot' is still granted by: pilots"
    )
    assert ok(env, "roles", "delete", "surveyor") == "deleted role surveyor\n"
    assert "surveyor" not in ok(env, "roles", "list")


def test_mapping_rules_lists_the_rules_in_force_one_line_each(tmp_path):
    env = make_env(tmp_path)
    assert ok(env, "mapping", "rules").splitlines() == [
        "1 rules from the config file",
        f"{'pilots':<24} match {{group: drone-pilots}} -> roles [pilot]; maxStorageMB 51200",
    ]
    database = make_env(tmp_path / "database", config="providers: [{id: local, type: local}]\n")
    assert ok(database, "mapping", "rules") == "0 rules from the database, version 1: no rules\n"


def test_sessions_list_all_and_of_one_user(tmp_path):
    env = make_env(tmp_path)
    assert ok(env, "sessions", "list") == "no sessions\n"
    ok(env, "users", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    ok(env, "tokens", "mint", "alice")
    ok(env, "tokens", "mint", "admin")
    every = ok(env, "sessions", "list").splitlines()
    assert sorted(line.split()[0] for line in every) == ["admin", "alice"]
    (alice,) = ok(env, "sessions", "list", "alice").splitlines()
    assert alice.split()[:3] == ["alice", "local", "active"]
    ok(env, "sessions", "end", "alice")
    assert ok(env, "sessions", "list", "alice") == "no sessions\n"
    (ended,) = ok(env, "sessions", "list", "alice", "--all").splitlines()
    assert ended.split()[2] == "ended"
