"""``/admin/sync``: the directory sync: the last runs with their counts and the names they
disabled, re-enabled or re-mapped, whether a run is under way, the schedule, and a "Run now"
and a "Dry run" button. A run is synchronous; after it the page shows that run (a redirect, so
reloading the page does not run it again)."""

from __future__ import annotations

from flask import redirect, request, url_for

from gateway.admin.errors import AdminError
from gateway.http.adminui import forms
from gateway.http.adminui.base import admin_page, bp, caller, render
from gateway.http.appservices import services
from gateway.registry.syncresult import CHANGE_KINDS
from gateway.registry.syncruns import RunRecord

LABELS = {"disabled": "disabled", "reenabled": "re-enabled", "remapped": "re-mapped"}
DRY_LABELS = {"disabled": "would disable", "reenabled": "would re-enable", "remapped": "would re-map"}


@bp.get("/sync")
@admin_page
def directory_sync():
    """The runs, the schedule and the buttons; ``?run=<id>`` marks the run just started."""
    return _page()


@bp.post("/sync/run")
@admin_page
def run_directory_sync():
    """Run the sync now; ``dry_run=1`` only reports what it would change."""
    dry_run = request.form.get("dry_run") == "1"
    try:
        record = services().directory_sync_admin().run(dry_run=dry_run, actor=caller().username)
    except AdminError as refused:
        return _page(error=forms.plain(refused.message), status=refused.status)
    return redirect(url_for("admin_ui.directory_sync", run=record.id), 303)


def _page(error: str | None = None, status: int = 200):
    overview = services().directory_sync_admin().overview()
    shown = request.args.get("run", "") if request.method == "GET" else ""
    just_ran = next((run for run in overview.runs if shown.isascii() and str(run.id) == shown), None)
    return render(
        "admin/sync.html",
        "sync",
        status,
        overview=overview,
        schedule=overview.schedule,
        just_ran=just_ran,
        details={run.id: run_details(run) for run in overview.runs},
        error=error,
    )


def run_details(run: RunRecord) -> list[tuple[str, str]]:
    """Per directory of ``run``, one line: why it was not read, or the names it changed
    (capped lists say how many more; a dry run's as what it would do) and its problems, or
    "no change"."""
    labels = DRY_LABELS if run.dry_run else LABELS
    lines = []
    for outcome in (run.result or {}).get("directories", []):
        if outcome.get("failed"):
            lines.append((outcome["provider"], f"not read, nothing changed: {outcome['failed']}"))
            continue
        parts = []
        for kind in CHANGE_KINDS:
            names = outcome.get("users", {}).get(kind, [])
            if names:
                more = outcome.get(kind, 0) - len(names)
                parts.append(f"{labels[kind]} {', '.join(names)}" + (f" and {more} more" if more > 0 else ""))
        parts += [f"problem: {text}" for text in outcome.get("problem_details", [])]
        lines.append((outcome["provider"], "; ".join(parts) or "no change"))
    return lines
