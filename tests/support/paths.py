"""Where the repository is, for tests and fixtures wherever they sit in the tree."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
