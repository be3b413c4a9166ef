"""``/admin/roles``: the catalogue of role names, which rules grant each, adding one, and
deleting one after a confirmation step (over :class:`AdminRoles`: the admin role is protected,
and a role the rules still grant needs an explicit "delete anyway")."""

from __future__ import annotations

from flask import redirect, request, url_for

from gateway.admin.errors import AdminError
from gateway.http.adminui import forms
from gateway.http.adminui.base import admin_page, bp, caller, render
from gateway.http.appservices import services
from gateway.mapping import is_role_name

NOTICES = {"created": "The role was added."}
MAX_DESCRIPTION = 200


@bp.get("/roles")
@admin_page
def roles():
    """Every known role and the form that adds one; after a deletion (``done=deleted``,
    ``role``) what still grants that role."""
    deleted = request.args.get("role", "")
    if request.args.get("done") == "deleted" and is_role_name(deleted):
        warnings = services().admin_roles().still_granted(deleted)
        notice = f"The role {deleted} was deleted from the catalogue."
        return _list(notice=notice, warnings=[forms.sentence(w) for w in warnings])
    return _list()


@bp.post("/roles")
@admin_page
def create_role():
    values = {
        "roleName": request.form.get("roleName", "").strip(),
        "description": request.form.get("description", "").strip(),
    }
    errors = forms.Errors()
    if not values["roleName"]:
        errors.add("roleName", "Enter a role name.")
    elif not is_role_name(values["roleName"]):
        errors.add("roleName", forms.ROLE_NAME_RULE + ".")
    if len(values["description"]) > MAX_DESCRIPTION:
        errors.add("description", f"Use at most {MAX_DESCRIPTION} characters.")
    if errors:
        return _list(values, forms.ordered(errors, ("roleName", "description")), 400)
    try:
        services().admin_roles().create(caller().username, values["roleName"], values["description"] or None)
    except AdminError as refused:
        return _list(values, forms.admin_errors(refused, ("roleName", "description")), refused.status)
    return redirect(url_for("admin_ui.roles", done="created"), 303)


@bp.get("/roles/<name>/delete")
@admin_page
def confirm_delete_role(name: str):
    return render("admin/role_delete.html", "roles", role=services().admin_roles().get(name))


@bp.post("/roles/<name>/delete")
@admin_page
def delete_role(name: str):
    admin = services().admin_roles()
    role = admin.get(name)
    try:
        admin.delete(caller().username, name, force=request.form.get("force") == "1")
    except AdminError as refused:
        return render(
            "admin/role_delete.html",
            "roles",
            refused.status,
            role=role,
            error=forms.plain(refused.message),
        )
    # POST-redirect-GET: a reload shows the list again, it does not delete (and audit) twice.
    return redirect(url_for("admin_ui.roles", done="deleted", role=name), 303)


def _list(
    values: dict | None = None,
    errors: dict | None = None,
    status: int = 200,
    *,
    notice: str | None = None,
    warnings: list[str] | None = None,
):
    admin = services().admin_roles()
    return render(
        "admin/roles.html",
        "roles",
        status,
        roles=admin.list(),
        admin_role=admin.admin_role,
        values=values or {},
        errors=errors or {},
        notice=notice or NOTICES.get(request.args.get("done", "")),
        warnings=warnings or [],
    )
