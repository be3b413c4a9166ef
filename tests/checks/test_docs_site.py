"""The documentation: the README stays a short front door, no Markdown file in the repository
points outside it, and the MkDocs site builds in strict mode (broken links and anchors fail)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO_ROOT

README_MAX_LINES = 250
# [text](target) and ![alt](target); the target ends at the first space or closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)")
# Text that names a place outside the repository, links or not: a sibling checkout, this machine.
OUTSIDE = re.compile(r"\.\./shared\b|shared/docs/|(?<![\w.])/work/")


def _markdown_files() -> list[Path]:
    """Every Markdown file of the repository, installed packages and build output left out."""
    skipped = {".git", ".venv", "node_modules", "site", "test-artifacts"}
    return sorted(
        path for path in REPO_ROOT.rglob("*.md") if not skipped & set(path.relative_to(REPO_ROOT).parts)
    )


def test_the_readme_is_a_front_door():
    lines = (REPO_ROOT / "README.md").read_text("utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


def test_the_password_rules_are_named_wherever_the_admin_password_is_chosen():
    """Issue 18: a GATEWAY_ADMIN_PASSWORD that breaks a rule (one containing "admin") stops
    start-up; each place that tells the operator to set it says so, or links the rules."""
    places = {
        "README.md": "docs/configuration.md#password-rules",
        "docs/getting-started.md": "configuration.md#password-rules",
        "docs/configuration.md": "#password-rules",
        ".env.example": "password rules",
    }
    for name, mention in places.items():
        text = (REPO_ROOT / name).read_text("utf-8")
        paragraphs = [block for block in re.split(r"\n\s*\n", text) if "GATEWAY_ADMIN_PASSWORD" in block]
        telling = [
            block
            for block in paragraphs
            if re.search(
                r"set `?GATEWAY_ADMIN_PASSWORD|^GATEWAY_ADMIN_PASSWORD=|^\| `GATEWAY_ADMIN_PASSWORD`",
                block,
                re.M,
            )
        ]
        assert telling, f"{name} no longer tells how to set GATEWAY_ADMIN_PASSWORD"
        for block in telling:
            assert mention in block, (
                f"{name}: the password rules are not named next to GATEWAY_ADMIN_PASSWORD"
            )


def test_no_markdown_file_points_outside_the_repository():
    problems = []
    for path in _markdown_files():
        text = path.read_text("utf-8")
        where = path.relative_to(REPO_ROOT)
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                problems.append(f"{where}:{number}: names a place outside the repository: {line.strip()}")
        for target in LINK.findall(text):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL (https:, mailto:) or an anchor on the same page
            if target.startswith("/"):
                problems.append(f"{where}: absolute link {target}")
                continue
            resolved = (path.parent / target.split("#")[0]).resolve()
            if not resolved.is_relative_to(REPO_ROOT):
                problems.append(f"{where}: link {target} leaves the repository")
            elif not resolved.exists():
                problems.append(f"{where}: link {target} points at nothing")
    assert problems == []


def test_the_docs_site_builds_strictly(tmp_path):
    # Not --quiet: mkdocs 1.6 then no longer counts warnings, and --strict would pass anything.
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "registry-contract" / "index.html").exists()
