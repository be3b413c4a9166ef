"""``/admin/activity``: who is in. Each user's last successful sign-in per way in (time,
client address, user agent), newest first, filtered by way in, in pages."""

from __future__ import annotations

from flask import request

from gateway.http.adminui.base import admin_page, bp, render
from gateway.http.adminui.paging import Paging, page_number
from gateway.http.appservices import services
from gateway.login.lastsignin import PATHS

PER_PAGE = 50


@bp.get("/activity")
@admin_page
def activity():
    """One page of recent sign-ins; an unknown ``path`` shows every way in."""
    path = request.args.get("path", "")
    path = path if path in PATHS else ""
    reader = services().activity()
    number = page_number(request.args)
    items, total = reader.recent(path=path or None, offset=(number - 1) * PER_PAGE, limit=PER_PAGE)
    paging = Paging(number, PER_PAGE, total, "/admin/activity", {"path": path})
    if number > paging.pages:
        paging = Paging(paging.pages, PER_PAGE, total, paging.path, paging.params)
        items, total = reader.recent(path=path or None, offset=paging.offset, limit=PER_PAGE)
    return render(
        "admin/activity.html",
        "activity",
        items=items,
        paging=paging,
        first_last=paging.first_last(len(items)),
        path=path,
        paths=PATHS,
    )
