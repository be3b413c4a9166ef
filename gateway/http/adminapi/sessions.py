"""``/admin/api/sessions``: who is signed in, and ending sessions.

``GET /sessions?username=&include_ended=&offset=&limit=`` lists (active only by default);
``DELETE /sessions/{id}`` ends one; ``DELETE /sessions?username=u`` ends all of one user's and
``DELETE /sessions?all=true`` everyone's: both keep the caller's current session unless
``include_self=true``. Ending a session ends every token bound to it at once.
"""

from __future__ import annotations

from typing import Any

from gateway.admin.errors import AdminError
from gateway.admin.sessionsadmin import MAX_LIMIT, AdminSessions, SessionView
from gateway.admin.timefmt import iso
from gateway.http.adminapi import schemas_more as schemas
from gateway.http.adminapi.base import admin_only, bp, doc, ok, principal
from gateway.http.adminapi.queryargs import BOOL_SCHEMA, PAGE_QUERY, bool_arg, int_arg, text_arg
from gateway.http.appservices import services

LIST_QUERY: dict[str, dict[str, Any]] = {
    "username": {"type": "string", "maxLength": 127},
    "include_ended": BOOL_SCHEMA,
    **PAGE_QUERY,
}
REVOKE_QUERY: dict[str, dict[str, Any]] = {
    "username": {"type": "string", "maxLength": 127},
    "all": BOOL_SCHEMA,
    "include_self": {**BOOL_SCHEMA, "description": "also end the caller's current session"},
}


def _sessions() -> AdminSessions:
    return services().admin_sessions()


@bp.get("/sessions")
@doc(
    "List sessions, newest first (active only unless include_ended=true)",
    response_schema=schemas.SessionPage,
    query=LIST_QUERY,
)
@admin_only
def list_sessions():
    offset, limit = int_arg("offset", 0, 0, 10**9), int_arg("limit", 100, 1, MAX_LIMIT)
    views, total = _sessions().list(
        username=text_arg("username"), include_ended=bool_arg("include_ended"), offset=offset, limit=limit
    )
    current = principal().session_id
    return ok(
        {"items": [shape(view, current) for view in views], "total": total, "offset": offset, "limit": limit}
    )


@bp.delete("/sessions/<session_id>")
@doc("End one session (and every token bound to it)", status=204, responses={404: "no such active session"})
@admin_only
def revoke_session(session_id: str):
    _sessions().revoke(principal().username, session_id)
    return "", 204


@bp.delete("/sessions")
@doc(
    "End all sessions of one user (username=) or of everyone (all=true)",
    response_schema=schemas.Revoked,
    query=REVOKE_QUERY,
)
@admin_only
def revoke_sessions():
    caller = principal()
    username, everyone = text_arg("username"), bool_arg("all")
    keep = None if bool_arg("include_self") else caller.session_id
    if (username is None) == (not everyone):
        raise AdminError(400, "give either username=<name> or all=true", "username")
    sessions = _sessions()
    if everyone:
        return ok({"revoked": sessions.revoke_all(caller.username, keep=keep)})
    return ok({"revoked": sessions.revoke_user(caller.username, username, keep=keep)})


def shape(view: SessionView, current: str | None) -> dict[str, Any]:
    return {
        "id": view.id,
        "username": view.username,
        "provider": view.provider,
        "createdAt": iso(view.created_at),
        "expiresAt": iso(view.expires_at),
        "revokedAt": iso(view.revoked_at),
        "active": view.active,
        "current": view.id == current,
    }
