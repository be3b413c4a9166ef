"""The static checks run the same way before a commit and before the tests: every check
``scripts/test`` runs ahead of pytest (ruff check, ruff format, mypy, the strict docs build) has
a hook in ``.pre-commit-config.yaml``, and each hook runs one of them."""

from __future__ import annotations

import yaml

from tests.support.paths import REPO_ROOT

# What scripts/test runs before pytest -> how the pre-commit hook spells the same check.
CHECKS = {
    '"$VENV/bin/ruff" check .': ".venv/bin/ruff check",
    '"$VENV/bin/ruff" format --check .': ".venv/bin/ruff format",
    '"$VENV/bin/mypy"': ".venv/bin/mypy",
    '"$VENV/bin/mkdocs" build --strict': ".venv/bin/mkdocs build --strict",
}


def _hooks() -> list[dict]:
    config = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text("utf-8"))
    return [hook for repo in config["repos"] for hook in repo["hooks"]]


def test_scripts_test_runs_every_static_check():
    script = (REPO_ROOT / "scripts" / "test").read_text("utf-8")
    assert [check for check in CHECKS if check not in script] == []


def test_pre_commit_runs_the_same_checks_and_only_those():
    entries = [hook["entry"] for hook in _hooks()]
    assert [spelling for spelling in CHECKS.values() if not any(spelling in e for e in entries)] == []
    assert [e for e in entries if not any(spelling in e for spelling in CHECKS.values())] == []


def test_whole_tree_checks_do_not_depend_on_the_staged_files():
    """mypy and the docs build check the whole tree, as scripts/test does."""
    for hook in _hooks():
        if hook["id"] in ("mypy", "mkdocs"):
            assert hook.get("pass_filenames") is False, hook["id"]
