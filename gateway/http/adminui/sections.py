"""``/admin``: the overview: counts at a glance and a way into every section."""

from __future__ import annotations

from gateway.http.adminui.base import admin_page, bp, render
from gateway.http.appservices import services


@bp.get("")
@bp.get("/")
@admin_page
def overview():
    """How many users, how many disabled, who the admins are, where the rules live."""
    svc = services()
    people = svc.people()
    everyone = people.all()
    return render(
        "admin/overview.html",
        "",
        total=len(everyone),
        disabled=sum(1 for person in everyone if not person.enabled),
        admins=sorted(people.admins()),
        mapping_source=svc.config.mapping_source,
        role=svc.config.admin.role,
    )
