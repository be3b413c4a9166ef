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
        return _page(error=forms.sentence(refused.message), status=refused.status)
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
        error=error,
    )
