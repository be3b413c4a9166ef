"""``/admin/groups``: the local provider's groups ("teams"), their members, creating and
deleting them (after a confirmation step), over :class:`AdminGroups` (so a change that would
leave no admin is refused and shown next to the form that asked for it)."""

from __future__ import annotations

from flask import redirect, request, url_for

from gateway.admin.errors import AdminError
from gateway.admin.groups import AdminGroups
from gateway.http.adminui import forms
from gateway.http.adminui.base import admin_page, bp, caller, render
from gateway.http.appservices import services

GROUP_FIELDS = ("name", "description")
MAX_DESCRIPTION = 200
NOTICES = {
    "created": "The group was created.",
    "deleted": "The group was deleted.",
    "added": "The member was added.",
    "removed": "The member was removed.",
}


@bp.get("/groups")
@admin_page
def groups():
    """Every local group with its members, and the form that creates one."""
    return _list()


@bp.post("/groups")
@admin_page
def create_group():
    values = {
        "name": request.form.get("name", "").strip(),
        "description": request.form.get("description", "").strip(),
    }
    errors = forms.Errors()
    if not values["name"]:
        errors.add("name", "Enter a name for the group.")
    if len(values["description"]) > MAX_DESCRIPTION:
        errors.add("description", f"Use at most {MAX_DESCRIPTION} characters.")
    if errors:
        return _list(values, forms.ordered(errors, GROUP_FIELDS), 400)
    try:
        services().admin_groups().create(caller().username, values["name"], values["description"] or None)
    except AdminError as refused:
        return _list(values, forms.admin_errors(refused, GROUP_FIELDS), refused.status)
    # An explicit fragment: else the browser keeps the form's (#new-group-heading).
    return redirect(url_for("admin_ui.group", name=values["name"], done="created", _anchor="group-name"), 303)


@bp.get("/groups/<name>")
@admin_page
def group(name: str):
    """One group: its members (each with a remove button) and the add-member form."""
    return _detail(services().admin_groups(), name)


@bp.post("/groups/<name>/members")
@admin_page
def add_member(name: str):
    admin = services().admin_groups()
    username = request.form.get("username", "").strip()
    try:
        if not username:
            raise AdminError(400, "enter the username of a local user", "username")
        admin.add_member(caller().username, name, username)
    except AdminError as refused:  # (a vanished group: _detail's own lookup answers 404)
        return _detail(
            admin, name, {"username": username}, {"username": forms.plain(refused.message)}, refused.status
        )
    return redirect(url_for("admin_ui.group", name=name, done="added"), 303)


@bp.get("/groups/<name>/members/<username>/remove")
@admin_page
def confirm_remove_member(name: str, username: str):
    """The confirmation step: the roles and quota the member would lose (the mapping's
    preview), or why the removal would be refused, and the button that removes them."""
    return _confirm_remove(services().admin_groups(), name, username)


@bp.post("/groups/<name>/members/<username>/remove")
@admin_page
def remove_member(name: str, username: str):
    admin = services().admin_groups()
    try:
        admin.remove_member(caller().username, name, username)
    except AdminError as refused:
        if refused.status == 404:
            raise
        return _confirm_remove(admin, name, username, forms.plain(refused.message), refused.status)
    return redirect(url_for("admin_ui.group", name=name, done="removed"), 303)


@bp.get("/groups/<name>/delete")
@admin_page
def confirm_delete_group(name: str):
    return render("admin/group_delete.html", "groups", group=services().admin_groups().get(name))


@bp.post("/groups/<name>/delete")
@admin_page
def delete_group(name: str):
    admin = services().admin_groups()
    group_view = admin.get(name)
    try:
        admin.delete(caller().username, name)
    except AdminError as refused:
        return render(
            "admin/group_delete.html",
            "groups",
            refused.status,
            group=group_view,
            error=forms.plain(refused.message),
        )
    return redirect(url_for("admin_ui.groups", done="deleted"), 303)


def _confirm_remove(
    admin: AdminGroups, name: str, username: str, error: str | None = None, status: int = 200
):
    impact = admin.removal_impact(name, username)
    if error is None and impact["refusal"]:
        error, status = forms.plain(impact["refusal"]), 409
    return render(
        "admin/group_remove_member.html",
        "groups",
        status,
        group=admin.get(name),
        username=username,
        impact=impact,
        error=error,
    )


def _list(values: dict | None = None, errors: dict | None = None, status: int = 200):
    admin = services().admin_groups()
    try:
        found, unavailable = admin.list(), None
    except AdminError as refused:  # no local provider
        found, unavailable = [], forms.plain(refused.message)
    return render(
        "admin/groups.html",
        "groups",
        status,
        groups=found,
        unavailable=unavailable,
        values=values or {},
        errors=errors or {},
        notice=NOTICES.get(request.args.get("done", "")),
    )


def _detail(
    admin: AdminGroups, name: str, values: dict | None = None, errors: dict | None = None, status: int = 200
):
    group_view = admin.get(name)
    local_users = services().local_users
    candidates = (
        [view.username for view in local_users.list() if view.username not in group_view.members]
        if local_users
        else []
    )
    return render(
        "admin/group.html",
        "groups",
        status,
        group=group_view,
        candidates=candidates,
        values=values or {},
        errors=errors or {},
        notice=NOTICES.get(request.args.get("done", "")),
    )
