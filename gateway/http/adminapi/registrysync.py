"""``/admin/api/registry/sync``: the directory sync, visible and controllable.

``GET`` shows the last runs (state, trigger, times, per-directory counts and the names
disabled, re-enabled and re-mapped), whether a run is under way and the schedule;
``POST`` (``{"dryRun": bool}``) runs it now and answers the recorded run: 409 while another
run is under way, 400 when no provider can list its users. A run is synchronous: the answer
comes when every directory has been read.
"""

from __future__ import annotations

from typing import Any

from gateway.admin.timefmt import iso
from gateway.http.adminapi import schemas_sync as schemas
from gateway.http.adminapi.base import admin_only, body, bp, doc, ok, principal
from gateway.http.appservices import services
from gateway.registry.syncadmin import SyncOverview
from gateway.registry.syncresult import CHANGE_KINDS
from gateway.registry.syncruns import RUNNING, RunRecord

TOTAL_KEYS = ("checked", "unchanged", *CHANGE_KINDS, "problems")


@bp.get("/registry/sync")
@doc(
    "The directory sync: the last runs, whether one is under way, and the schedule",
    response_schema=schemas.SyncOverview,
)
@admin_only
def sync_overview():
    return ok(shape_overview(services().directory_sync_admin().overview()))


@bp.post("/registry/sync")
@doc(
    "Run the directory sync now (dryRun: report what it would change, change nothing)",
    request_schema=schemas.SyncRequest,
    response_schema=schemas.SyncRun,
    responses={
        400: "no provider can list its users, or invalid input",
        409: "another run is under way",
    },
)
@admin_only
def sync_now():
    data = body(schemas.SyncRequest())
    record = services().directory_sync_admin().run(dry_run=data["dryRun"], actor=principal().username)
    return ok(shape_run(record))


def shape_overview(overview: SyncOverview) -> dict[str, Any]:
    schedule = overview.schedule
    return {
        "running": overview.running,
        "directories": list(overview.directories),
        "schedule": {
            "enabled": schedule.enabled,
            "intervalSeconds": schedule.interval_seconds,
            "lastRunAt": iso(schedule.last_run_at),
            "nextDueAt": iso(schedule.next_due),
        },
        "runs": [shape_run(record) for record in overview.runs],
    }


def shape_run(record: RunRecord) -> dict[str, Any]:
    """A recorded run in the API's camelCase; ``totals`` is null and ``directories`` empty
    while it runs."""
    result = record.result or {}
    totals = result.get("totals")
    return {
        "id": record.id,
        "trigger": record.trigger,
        "dryRun": record.dry_run,
        "state": record.state,
        "startedAt": iso(record.started_at),
        "finishedAt": iso(record.finished_at),
        "durationSeconds": record.duration_seconds,
        "totals": {key: int(totals.get(key, 0)) for key in TOTAL_KEYS} if totals is not None else None,
        "directories": [_shape_directory(outcome) for outcome in result.get("directories", [])],
        "progress": _shape_progress(result.get("progress")) if record.state == RUNNING else None,
    }


def _shape_progress(progress: Any) -> dict[str, Any] | None:
    if not isinstance(progress, dict):
        return None
    return {"directory": str(progress.get("directory", "")), "checked": int(progress.get("checked", 0))}


def _shape_directory(outcome: dict[str, Any]) -> dict[str, Any]:
    users = outcome.get("users") or {}
    return {
        "provider": outcome["provider"],
        **{key: int(outcome.get(key, 0)) for key in TOTAL_KEYS},
        "users": {kind: list(users.get(kind, [])) for kind in CHANGE_KINDS},
        "problemDetails": list(outcome.get("problem_details", [])),
        "failed": outcome.get("failed"),
    }
