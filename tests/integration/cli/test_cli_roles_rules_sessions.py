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


def test_mapping_rules_show_set_and_delete_one_rule(tmp_path):
    env = make_env(tmp_path, config="providers: [{id: local, type: local}]\n")
    rule = tmp_path / "rule.yaml"
    rule.write_text("name: pilots\nmatch: {group: drone-pilots}\nroles: [pilot]\nmaxStorageMB: 2 GB\n")
    added = ok(env, "mapping", "rules", "set", str(rule)).splitlines()
    assert added[0] == "added rule 'pilots' at position 1: mapping policy version 2 (1 rules)"
    assert added[1].startswith("warning: No user has group 'drone-pilots'")  # as the API warns
    first = tmp_path / "first.yaml"
    first.write_text("- {name: staff, match: {group: staff}, roles: [staff]}\n")
    assert ok(env, "mapping", "rules", "set", str(first), "--position", "1").startswith(
        "added rule 'staff' at position 1: mapping policy version 3 (2 rules)"
    )
    # show prints YAML that set reads back: edited, it replaces the rule in its place.
    shown = ok(env, "mapping", "rules", "show", "pilots")
    assert shown.startswith("# Rule 2 of the mapping policy, from the database, version 3.\n")
    assert "maxStorageMB: 2048\n" in shown  # stored in MB, as the API stores it
    rule.write_text(shown.replace("maxStorageMB: 2048", "maxStorageMB: 4096"))
    assert ok(env, "mapping", "rules", "set", str(rule)).startswith(
        "replaced rule 'pilots': mapping policy version 4 (2 rules)"
    )
    assert [line.split()[0] for line in ok(env, "mapping", "rules").splitlines()[1:]] == ["staff", "pilots"]
    assert "maxStorageMB 4096" in ok(env, "mapping", "rules")
    assert fails(env, "mapping", "rules", "set", str(rule), "--position", "1") == (
        "error: rule 'pilots' exists and keeps its place; --position is for a new rule"
    )
    # The API's checks, in one line each.
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: broken\nroles: [x]\n")
    assert fails(env, "mapping", "rules", "set", str(bad)).startswith("error: ")
    bad.write_text("just text\n")
    assert fails(env, "mapping", "rules", "set", str(bad)) == (
        f"error: {bad}: must hold one rule: a YAML mapping with a name, as `rules show` prints"
    )
    assert fails(env, "mapping", "rules", "show", "nope") == (
        "error: no rule named 'nope' (gateway mapping rules lists them)"
    )
    assert ok(env, "mapping", "rules", "delete", "staff") == (
        "deleted rule 'staff': mapping policy version 5 (1 rules)\n"
    )
    assert fails(env, "mapping", "rules", "delete", "staff").startswith("error: ")
    # Rules from the config file are shown, never changed.
    file_mode = make_env(tmp_path / "file")
    assert "name: pilots" in ok(file_mode, "mapping", "rules", "show", "pilots")
    assert "mapping_source: file" in fails(file_mode, "mapping", "rules", "delete", "pilots")
