"""``gateway mapping export`` and ``gateway mapping import``, run for real (``python -m gateway``
in a subprocess) against a temporary instance: a lossless round trip, a dry run that saves
nothing, one-line refusals (invalid, lock-out, config-file policy), and the audit trail."""

from __future__ import annotations

import json

import pytest

from gateway.admin.mappingdoc import read_policy_yaml
from tests.integration.cli.test_cli import CONFIG as FILE_MODE_CONFIG
from tests.integration.cli.test_cli import PASSWORD, fails, make_env, ok, run, services_for

pytestmark = pytest.mark.integration

DATABASE_MODE_CONFIG = """\
providers:
  - id: local
    type: local
    hashing: {time_cost: 1, memory_cost_kib: 8192}
"""

POLICY = """\
default_maxStorageMB: 5120
expose: [email]
rules:
  - name: pilots
    match: {group: drone-pilots, case_insensitive: true}
    roles: [pilot]
    maxStorageMB: 51200
    metadata: {team: "Zürich", "on": "yes", level: 7, active: true}
  - name: admins
    match: {group: drone-admins}
    roles: [admin]
    maxStorageMB: unlimited
"""


@pytest.fixture
def env(tmp_path):
    """A prepared instance whose policy lives in the database, with alice in drone-pilots."""
    env = make_env(tmp_path, config=DATABASE_MODE_CONFIG, auto_migrate=False)
    with services_for(env) as services:
        services.prepare(migrate=True)
        services.local_users.create_group("drone-pilots")
        services.user_operations().create(
            "alice", PASSWORD, email="alice@example.org", groups=["drone-pilots"]
        )
    return env


def stored_document(env) -> dict:
    with services_for(env) as services:
        return dict(services.policies.current().document)


def test_export_then_import_is_a_lossless_round_trip(env, tmp_path):
    assert read_policy_yaml(ok(env, "mapping", "export")) == {}
    source = tmp_path / "policy.yaml"
    source.write_text(POLICY, encoding="utf-8")

    imported = ok(env, "mapping", "import", str(source))
    assert "alice: roles [] -> ['pilot']; maxStorageMB unlimited -> 51200" in imported
    assert "admin: maxStorageMB unlimited -> 5120" in imported
    assert "2 changed, 0 unchanged; admins after: admin" in imported
    assert f"imported {source} as version 2 (2 rules)" in imported
    document = read_policy_yaml(POLICY)
    assert stored_document(env) == document

    exported = tmp_path / "exported.yaml"
    assert ok(env, "mapping", "export", str(exported)).strip() == (
        f"wrote {exported} (version 2, from the database; 2 rules)"
    )
    text = exported.read_text(encoding="utf-8")
    assert text == ok(env, "mapping", "export")
    assert text.startswith("# DroneDB gateway mapping policy (version 2, from the database).")
    assert read_policy_yaml(text) == document
    assert list(read_policy_yaml(text)["rules"][0]) == list(document["rules"][0])

    again = ok(env, "mapping", "import", str(exported))
    assert "no change: version 2 already is this policy" in again
    assert stored_document(env) == document

    with services_for(env) as services:
        with services.database.engine.connect() as connection:
            rows = (
                connection.exec_driver_sql("select detail from audit_events where event = 'mapping_changed'")
                .scalars()
                .all()
            )
            roles = connection.exec_driver_sql("select name from roles").scalars().all()
    details = [row if isinstance(row, dict) else json.loads(row) for row in rows]
    assert [(d["actor"], d["change"], d["version"], d["rules"]) for d in details] == [("cli", "import", 2, 2)]
    assert {"pilot", "admin"} <= set(roles)


def test_a_dry_run_prints_the_changes_and_saves_nothing(env, tmp_path):
    source = tmp_path / "policy.yaml"
    source.write_text(POLICY, encoding="utf-8")
    out = ok(env, "mapping", "import", str(source), "--dry-run")
    assert "alice: roles [] -> ['pilot']; maxStorageMB unlimited -> 51200" in out
    assert "new roles: pilot" in out
    # Nobody is in drone-admins and no directory is configured: most likely a misspelling.
    assert "warning: No user has group 'drone-admins' and the directory does not know it" in out
    assert "drone-pilots' and" not in out  # alice is in it
    assert out.strip().endswith("dry run: nothing saved")
    assert stored_document(env) == {}


def test_import_refusals_are_one_line(env, tmp_path):
    locked = tmp_path / "locked.yaml"
    locked.write_text("rules:\n  - name: pilots-only\n    require: {group: drone-pilots}\n")
    result = run(env, "mapping", "import", str(locked))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"error: refused: no enabled user would hold the 'admin' role under {locked}"
    )
    assert "admin: allowed -> DENIED" in result.stdout
    assert "admins after: (none)" in result.stdout
    assert fails(env, "mapping", "import", str(locked), "--dry-run").startswith("error: refused")

    invalid = tmp_path / "invalid.yaml"
    invalid.write_text("rules:\n  - name: x\n    match: {group: g}\n    roles: admin\n")
    assert fails(env, "mapping", "import", str(invalid)) == (
        f"error: {invalid}: rules[0].roles: must be a list"
    )

    for name, text, words in [
        ("broken.yaml", "rules: [\n", "not valid YAML"),
        ("empty.yaml", "", "is empty"),
        ("list.yaml", "- a\n", "must hold a mapping policy"),
    ]:
        path = tmp_path / name
        path.write_text(text)
        line = fails(env, "mapping", "import", str(path))
        assert line.startswith(f"error: {path}: ") and words in line
    assert "No such file" in fails(env, "mapping", "import", str(tmp_path / "missing.yaml"))
    assert stored_document(env) == {}


def test_the_config_files_policy_exports_but_does_not_import(tmp_path):
    env = make_env(tmp_path, config=FILE_MODE_CONFIG, auto_migrate=False)
    with services_for(env) as services:
        services.prepare(migrate=True)
    exported = ok(env, "mapping", "export")
    assert exported.startswith("# DroneDB gateway mapping policy (from the config file")
    assert read_policy_yaml(exported)["rules"][0]["name"] == "pilots"
    source = tmp_path / "policy.yaml"
    source.write_text(exported)
    line = fails(env, "mapping", "import", str(source))
    assert "mapping_source: database" in line
