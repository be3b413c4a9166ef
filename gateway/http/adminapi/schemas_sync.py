"""Request and response shapes of ``/admin/api/registry/sync``, the directory sync
(marshmallow; also their OpenAPI components)."""

from __future__ import annotations

from marshmallow import Schema, fields

from gateway.http.adminapi.schemas import Strict

_NAMES = "usernames, at most 100 per list (the counts stay exact)"


class SyncRequest(Strict):
    dryRun = fields.Boolean(
        load_default=False, metadata={"description": "report what a run would change; change nothing"}
    )


class SyncTotals(Schema):
    checked = fields.Integer(required=True, metadata={"description": "accounts compared with their entry"})
    unchanged = fields.Integer(required=True)
    disabled = fields.Integer(required=True)
    reenabled = fields.Integer(required=True)
    remapped = fields.Integer(required=True)
    problems = fields.Integer(required=True, metadata={"description": "entries left as they are"})


class SyncUsers(Schema):
    disabled = fields.List(fields.String(), required=True, metadata={"description": _NAMES})
    reenabled = fields.List(fields.String(), required=True, metadata={"description": _NAMES})
    remapped = fields.List(fields.String(), required=True, metadata={"description": _NAMES})


class SyncDirectory(SyncTotals):
    provider = fields.String(required=True)
    users = fields.Nested(SyncUsers, required=True)
    problemDetails = fields.List(fields.String(), required=True, metadata={"description": _NAMES})
    failed = fields.String(
        allow_none=True, metadata={"description": "why the read did not complete (then nothing changed)"}
    )


class SyncProgress(Schema):
    directory = fields.String(required=True, metadata={"description": "the directory being read"})
    checked = fields.Integer(
        required=True, metadata={"description": "accounts checked so far (updated every 1,000)"}
    )


class SyncRun(Schema):
    id = fields.Integer(required=True)
    trigger = fields.String(
        required=True, metadata={"description": "schedule, or who started it (cli:<user>, an admin)"}
    )
    dryRun = fields.Boolean(required=True)
    state = fields.String(required=True, metadata={"description": "running, done, partial or failed"})
    startedAt = fields.DateTime(required=True)
    finishedAt = fields.DateTime(allow_none=True)
    durationSeconds = fields.Float(allow_none=True)
    totals = fields.Nested(SyncTotals, allow_none=True, metadata={"description": "null while running"})
    directories = fields.List(fields.Nested(SyncDirectory), required=True)
    progress = fields.Nested(
        SyncProgress,
        allow_none=True,
        metadata={"description": "how far a run under way has got; null once it has finished"},
    )


class SyncSchedule(Schema):
    enabled = fields.Boolean(
        required=True, metadata={"description": "registry.sync.enabled, and some directory can be read"}
    )
    intervalSeconds = fields.Integer(required=True)
    lastRunAt = fields.DateTime(allow_none=True, metadata={"description": "the last run that was not dry"})
    nextDueAt = fields.DateTime(
        allow_none=True, metadata={"description": "when the next scheduled run may start; null when off"}
    )


class SyncOverview(Schema):
    running = fields.Boolean(required=True, metadata={"description": "a run (not dry) is under way now"})
    directories = fields.List(fields.String(), required=True, metadata={"description": "providers read"})
    schedule = fields.Nested(SyncSchedule, required=True)
    runs = fields.List(fields.Nested(SyncRun), required=True, metadata={"description": "newest first"})
