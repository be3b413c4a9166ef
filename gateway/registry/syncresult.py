"""What one directory sync run found and did, per directory and in total."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A run keeps at most this many usernames (and problems) per list; the counts stay exact.
MAX_NAMES = 100

DISABLED = "disabled"
REENABLED = "reenabled"
REMAPPED = "remapped"
CHANGE_KINDS = (DISABLED, REENABLED, REMAPPED)


@dataclass
class DirectoryOutcome:
    """One directory's part of a run. ``failed`` is why its read did not complete (then
    nothing of that directory was changed)."""

    provider: str
    checked: int = 0
    unchanged: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHANGE_KINDS, 0))
    names: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in CHANGE_KINDS})
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    failed: str | None = None

    def changed(self, kind: str, username: str) -> None:
        self.counts[kind] += 1
        if len(self.names[kind]) < MAX_NAMES:
            self.names[kind].append(username)

    def problem(self, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_NAMES:
            self.problems.append(text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "checked": self.checked,
            "unchanged": self.unchanged,
            **{kind: self.counts[kind] for kind in CHANGE_KINDS},
            "users": {kind: list(self.names[kind]) for kind in CHANGE_KINDS},
            "problems": self.problem_count,
            "problem_details": list(self.problems),
            "failed": self.failed,
        }


@dataclass
class SyncResult:
    """A whole run: ``dry_run`` runs report what a run would change, and change nothing."""

    dry_run: bool
    directories: list[DirectoryOutcome] = field(default_factory=list)
    duration_seconds: float = 0.0
    run_id: int | None = None

    @property
    def state(self) -> str:
        """ "done" when every directory was read, "partial" when some, "failed" when none
        (or none is configured)."""
        failed = sum(1 for outcome in self.directories if outcome.failed)
        if not self.directories or failed == len(self.directories):
            return "failed"
        return "partial" if failed else "done"

    def total(self, key: str) -> int:
        """The sum over directories of ``checked``, ``unchanged``, ``problems`` or a change kind."""
        if key in CHANGE_KINDS:
            return sum(outcome.counts[key] for outcome in self.directories)
        if key == "problems":
            return sum(outcome.problem_count for outcome in self.directories)
        return sum(getattr(outcome, key) for outcome in self.directories)

    def to_dict(self) -> dict[str, Any]:
        keys = ("checked", "unchanged", *CHANGE_KINDS, "problems")
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "state": self.state,
            "duration_seconds": round(self.duration_seconds, 3),
            "totals": {key: self.total(key) for key in keys},
            "directories": [outcome.to_dict() for outcome in self.directories],
        }
