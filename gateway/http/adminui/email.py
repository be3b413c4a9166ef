"""``/admin/email``: the mail settings in force (never the password), the messages waiting or
failed, and "Send a test e-mail" (queued; a redirect shows the queue, so a reload sends
nothing again)."""

from __future__ import annotations

from flask import redirect, request, url_for

from gateway.admin.errors import AdminError
from gateway.http.adminui import forms
from gateway.http.adminui.base import admin_page, bp, caller, render
from gateway.http.appservices import services


@bp.get("/email")
@admin_page
def email():
    return _page(notice=request.args.get("sent") == "1")


@bp.post("/email/test")
@admin_page
def email_test():
    recipient = request.form.get("to", "")
    try:
        services().email_admin().send_test(recipient, actor=caller().username)
    except AdminError as refused:
        return _page(error=forms.sentence(refused.message), status=refused.status, to=recipient[:320])
    return redirect(url_for("admin_ui.email", sent="1"), 303)


def _page(*, error: str | None = None, status: int = 200, notice: bool = False, to: str = ""):
    overview = services().email_admin().overview()
    return render(
        "admin/email.html",
        "email",
        status,
        settings=overview["settings"],
        queue=overview["queue"],
        error=error,
        notice=notice,
        to=to or caller().principal.identity.email or "",
    )
