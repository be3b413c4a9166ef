"""``/admin/sessions``: who is signed in (newest first, filter by user, ended ones on
request), the last sign-ins on every way in (a Registry password sign-in opens no session),
and ending sessions: one, all of a user's, or everyone's (after a confirmation
step). Ending a session ends every token bound to it. Mass revocation keeps the admin's own
session in this browser."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for

from gateway.admin.errors import AdminError
from gateway.http.adminui import forms
from gateway.http.adminui.base import admin_page, bp, caller, render
from gateway.http.adminui.paging import Paging, page_number
from gateway.http.appservices import services

PER_PAGE = 50
SIGN_INS_SHOWN = 10
MAX_ID_CHARS = 64


@bp.get("/sessions")
@admin_page
def sessions():
    """One page of sessions for the query string's filters (``user``, ``ended``, ``page``)."""
    return _list()


@bp.post("/sessions/revoke")
@admin_page
def revoke_session():
    """End the session whose id is posted (ids stay out of URLs and logs)."""
    session_id = request.form.get("session_id", "")[:MAX_ID_CHARS]
    try:
        services().admin_sessions().revoke(caller().username, session_id)
    except AdminError as refused:
        return _list(error=forms.plain(refused.message), status=refused.status)
    if session_id == caller().session.id:  # the admin signed themselves out
        return redirect("/login", 303)
    return redirect(_back("revoked"), 303)


@bp.post("/sessions/revoke-user")
@admin_page
def revoke_user_sessions():
    username = request.form.get("username", "").strip()[:200]
    if not username:
        return _list(error="Enter a username.", status=400)
    count = services().admin_sessions().revoke_user(caller().username, username, keep=caller().session.id)
    return redirect(url_for("admin_ui.sessions", user=username, done="user", count=count), 303)


@bp.get("/sessions/revoke-all")
@admin_page
def confirm_revoke_all():
    return render("admin/sessions_revoke_all.html", "sessions")


@bp.post("/sessions/revoke-all")
@admin_page
def revoke_all_sessions():
    count = services().admin_sessions().revoke_all(caller().username, keep=caller().session.id)
    return redirect(url_for("admin_ui.sessions", done="all", count=count), 303)


def _back(done: str) -> str:
    """The list the form was posted from, with a notice."""
    return url_for(
        "admin_ui.sessions",
        user=request.form.get("user") or None,
        ended=request.form.get("ended") or None,
        done=done,
    )


def _list(error: str | None = None, status: int = 200):
    args = request.args if request.method == "GET" else request.form
    username = args.get("user", "").strip()[:200]
    ended = args.get("ended") == "1"
    number = page_number(args)
    admin = services().admin_sessions()
    query: dict[str, Any] = {"username": username or None, "include_ended": ended, "limit": PER_PAGE}
    shown, total = admin.list(offset=(number - 1) * PER_PAGE, **query)
    paging = Paging(
        number, PER_PAGE, total, "/admin/sessions", {"user": username, "ended": "1" if ended else ""}
    )
    if number > paging.pages:  # past the end: show the last page
        paging = Paging(paging.pages, PER_PAGE, total, paging.path, paging.params)
        shown, total = admin.list(offset=paging.offset, **query)
    # Sessions are only the gateway's own; a Registry password or app-password sign-in opens
    # none, so who is in on every way comes from the last sign-ins.
    activity = services().activity()
    sign_ins = activity.of_user(username) if username else activity.recent(limit=SIGN_INS_SHOWN)[0]
    return render(
        "admin/sessions.html",
        "sessions",
        status,
        sessions=shown,
        paging=paging,
        first_last=paging.first_last(len(shown)),
        user=username,
        ended=ended,
        mine=caller().session.id,
        sign_ins=sign_ins,
        error=error,
        notice=_notice(),
    )


def _notice() -> str | None:
    done, count = request.args.get("done", ""), request.args.get("count", "")
    count = count if count.isascii() and count.isdigit() else "0"
    return {
        "revoked": "The session was ended; its tokens no longer work.",
        "user": f"{count} session(s) of this user were ended.",
        "all": f"{count} session(s) were ended; yours in this browser was kept.",
    }.get(done)
