"""What ``gateway import-registry`` reports: the plan (or result) for each Registry user, and
the whole report its ``--json`` prints (never a password hash)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.registry.users import Target

Action = Literal["create", "update", "unchanged", "kept", "skipped"]
ACTIONS: tuple[Action, ...] = ("create", "update", "unchanged", "kept", "skipped")


@dataclass(frozen=True)
class Outcome:
    """The plan (or result) for one Registry user. ``reason`` says why for ``kept`` and
    ``skipped``; ``changes`` names the fields an ``update`` changes; ``notes`` are what was
    dropped or adjusted on the way."""

    registry_username: str
    action: Action
    target: Target | None = None
    reason: str = ""
    changes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def username(self) -> str | None:
        return self.target.username if self.target else None

    @property
    def planned_target(self) -> Target:
        """The target of an outcome planned from a readable Registry user (every create and
        update has one); raises :class:`ValueError` for an outcome without one."""
        if self.target is None:
            raise ValueError(f"no target planned for Registry user {self.registry_username!r}")
        return self.target

    def to_dict(self) -> dict[str, Any]:
        """The outcome for ``--json``: never a password hash."""
        data: dict[str, Any] = {"registryUserName": self.registry_username, "action": self.action}
        if self.target is not None:
            overrides = self.target.overrides
            data.update(
                userName=self.target.username,
                email=self.target.email,
                enabled=self.target.enabled,
                roles=list(overrides.get("roles", [])),
                maxStorageMB=overrides.get("maxStorageMB"),
                metadata={k: v for k, v in overrides.items() if k not in ("roles", "maxStorageMB")},
                passwordHashFormat=self.target.hash_format,
            )
        if self.reason:
            data["reason"] = self.reason
        if self.changes:
            data["changes"] = list(self.changes)
        if self.notes:
            data["notes"] = list(self.notes)
        return data


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    outcomes: list[Outcome] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {action: sum(1 for o in self.outcomes if o.action == action) for action in ACTIONS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dryRun": self.dry_run,
            "summary": self.counts(),
            "users": [outcome.to_dict() for outcome in self.outcomes],
        }
