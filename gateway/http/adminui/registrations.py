"""``/admin/registrations``: self-registered accounts waiting (for their address to be
confirmed, or for an admin) with Approve and Reject buttons."""

from __future__ import annotations

from flask import redirect, request, url_for

from gateway.admin.errors import AdminError
from gateway.http.adminui import forms
from gateway.http.adminui.base import admin_page, bp, caller, render
from gateway.http.appservices import services


@bp.get("/registrations")
@admin_page
def registrations():
    return _page()


@bp.post("/registrations/<username>/approve")
@admin_page
def approve_registration(username: str):
    try:
        services().registration().approve(caller().username, username)
    except AdminError as refused:
        return _page(error=forms.sentence(refused.message), status=refused.status)
    return redirect(url_for("admin_ui.registrations", done="approved"), 303)


@bp.post("/registrations/<username>/reject")
@admin_page
def reject_registration(username: str):
    try:
        services().registration().reject(caller().username, username)
    except AdminError as refused:
        return _page(error=forms.sentence(refused.message), status=refused.status)
    return redirect(url_for("admin_ui.registrations", done="rejected"), 303)


def _page(error: str | None = None, status: int = 200):
    registration = services().registration()
    done = request.args.get("done") if request.method == "GET" else None
    return render(
        "admin/registrations.html",
        "registrations",
        status,
        waiting=registration.pending(),
        enabled=registration.settings.enabled,
        approval=registration.settings.require_admin_approval,
        done=done if done in ("approved", "rejected") else None,
        error=error,
    )
