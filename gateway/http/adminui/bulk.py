"""Bulk actions on the users list: the checked users, an action (disable, enable, delete, add
to a group), one confirmation page listing who is affected and the consequences, then the
one-user operations applied one by one (:class:`gateway.admin.bulk.BulkUsers`) and a summary.

Post-redirect-get: the confirming POST answers a 303 to ``/admin/users/bulk/done``; the
results ride there in a short-lived cookie, sealed and bound to the admin's session (so a
link cannot make the page say anything), and the summary page expires it: a reload repeats
nothing and shows the users list.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from flask import make_response, redirect, request

from gateway.admin.bulk import ACTIONS, MAX_USERS, BulkResult
from gateway.admin.errors import AdminError
from gateway.http.adminui import forms
from gateway.http.adminui.base import admin_page, bp, caller, render
from gateway.http.adminui.users import users_page
from gateway.http.appservices import services
from gateway.http.browser import secure
from gateway.tokens.sealing import BrokenSeal, Sealer

COOKIE = "gw_bulk_result"
LIFETIME_SECONDS = 120
SHOWN_DONE = 20
SHOWN_REFUSED = 8
_HKDF_INFO = b"gateway admin bulk result v1"
_ASSOCIATED_DATA = b"gateway admin bulk result cookie v1"


def _request() -> tuple[str, list[str], str | None]:
    form = request.form
    action = form.get("action", "")[:32]
    names = [name.strip()[:127] for name in form.getlist("user")[: MAX_USERS + 1] if name.strip()]
    group = form.get("group", "").strip()[:64] or None
    return action, names, group


@bp.post("/users/bulk")
@admin_page
def review_bulk():
    """The confirmation page: who would be affected, who is refused up front and why, and
    the consequences; refused requests (nobody checked, no group) go back to the list."""
    action, names, group = _request()
    try:
        plan = services().bulk_users().plan(caller().username, action, names, group)
    except AdminError as refused:
        return _refused(refused)
    return render("admin/users_bulk.html", "users", plan=plan, actions=ACTIONS)


@bp.post("/users/bulk/apply")
@admin_page
def apply_bulk():
    """Apply the confirmed action, then show the summary after a redirect."""
    action, names, group = _request()
    try:
        results = services().bulk_users().apply(caller().username, action, names, group)
    except AdminError as refused:
        return _refused(refused)
    response = redirect("/admin/users/bulk/done", 303)
    _hand_over(response, caller().session.id, action, group, results)
    return response


def _refused(refused: AdminError):
    """The users list with the refusal above the bulk form (an unknown group is the form's
    fault here: 400)."""
    return users_page(
        bulk_error=forms.sentence(refused.message), status=400 if refused.status == 404 else refused.status
    )


@bp.get("/users/bulk/done")
@admin_page
def bulk_done():
    """The summary of the bulk action this browser just confirmed; the users list otherwise."""
    summary = _take(caller().session.id)
    if summary is None:
        response = redirect("/admin/users", 303)
    else:
        response = make_response(render("admin/users_bulk_done.html", "users", summary=summary))
    if _name() in request.cookies:
        response.delete_cookie(_name(), path="/admin", secure=secure(), httponly=True, samesite="Lax")
    return response


def _name() -> str:
    return "__Secure-" + COOKIE if secure() else COOKIE


def _sealer() -> Sealer:
    return Sealer(services().settings.key_encryption_key, _HKDF_INFO, _ASSOCIATED_DATA)


def _hand_over(response, session_id: str, action: str, group: str | None, results: list[BulkResult]) -> None:
    done = [r.username for r in results if r.ok]
    refused = [r for r in results if not r.ok]
    payload = {
        "sid": session_id,
        "exp": int(time.time()) + LIFETIME_SECONDS,
        "action": action,
        "group": group,
        # Lists are cut (the totals stay) so the cookie stays under the browsers' 4 KB.
        "done": [name[:48] for name in done[:SHOWN_DONE]],
        "doneTotal": len(done),
        "refused": [[r.username[:48], r.message[:100]] for r in refused[:SHOWN_REFUSED]],
        "refusedTotal": len(refused),
    }
    response.set_cookie(
        _name(),
        _sealer().seal(json.dumps(payload).encode()),
        max_age=LIFETIME_SECONDS,
        path="/admin",
        secure=secure(),
        httponly=True,
        samesite="Lax",
    )


@dataclass(frozen=True)
class Summary:
    label: str
    done: list[str]
    done_total: int
    refused: list[tuple[str, str]]
    refused_total: int


def _take(session_id: str) -> Summary | None:
    value = request.cookies.get(_name(), "")
    if not value or len(value) > 8192:
        return None
    try:
        payload = json.loads(_sealer().open(value))
        if payload["sid"] != session_id or payload["exp"] < time.time():
            return None
        group = payload.get("group")
        return Summary(
            label=ACTIONS[payload["action"]] + (f" {group!r}" if group else ""),
            done=[str(name) for name in payload["done"]],
            done_total=int(payload["doneTotal"]),
            refused=[(str(name), str(message)) for name, message in payload["refused"]],
            refused_total=int(payload["refusedTotal"]),
        )
    except (BrokenSeal, ValueError, KeyError, TypeError):
        return None
