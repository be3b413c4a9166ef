"""``/admin/api/activity``: who is in. The newest last sign-ins across users (one row per user
and path: time, client address, user agent), newest first, optionally on one ``path``; a page
of ``items`` with ``total``, ``offset`` and ``limit``."""

from __future__ import annotations

from gateway.admin.activity import MAX_PAGE
from gateway.http.adminapi import schemas_more as schemas
from gateway.http.adminapi.base import admin_only, bp, doc, ok
from gateway.http.adminapi.queryargs import int_arg, text_arg
from gateway.http.appservices import services
from gateway.login.lastsignin import PATHS


@bp.get("/activity")
@doc(
    "Recent sign-ins: each user's last sign-in per path, newest first",
    response_schema=schemas.ActivityPage,
    query={
        "path": {"type": "string", "enum": list(PATHS)},
        "offset": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
    },
)
@admin_only
def recent_activity():
    offset, limit = int_arg("offset", 0, 0, 10**9), int_arg("limit", 50, 1, MAX_PAGE)
    items, total = services().activity().recent(path=text_arg("path"), offset=offset, limit=limit)
    return ok({"items": [item.record() for item in items], "total": total, "offset": offset, "limit": limit})
