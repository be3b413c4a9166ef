"""``/admin/users/<name>``: one user in detail, and what an admin can do to them.

Local users: edit the profile (email, display name, directly granted roles, groups, enabled),
reset the password, set the storage quota and other per-user answer values. Directory and IdP
users are read-only here except enabling and disabling. Anyone can be deleted after a
confirmation step. Every change goes through :class:`AdminUsers`, so its rules hold (not
yourself, never the last admin) and are shown next to the form that broke them.
"""

from __future__ import annotations

import json
from typing import Any

from flask import redirect, request, url_for
from marshmallow import ValidationError

from gateway.admin.errors import AdminError
from gateway.admin.people import Person
from gateway.admin.users import AdminUsers
from gateway.http.adminapi import schemas
from gateway.http.adminapi.users import detail
from gateway.http.adminui import forms
from gateway.http.adminui.base import admin_page, bp, caller, render
from gateway.http.appservices import services
from gateway.login.answer import build_answer

PROFILE_FIELDS = ("email", "displayName", "roles", "groups", "enabled")
PASSWORD_FIELDS = ("newPassword", "confirmPassword")
VALUES_FIELDS = ("maxStorageMB", "metadata")
NOTICES = {
    "created": "The user was created.",
    "updated": "The changes were saved.",
    "password": "The password was changed.",
    "values": "The quota and values were saved.",
    "enabled": "The user was enabled.",
    "disabled": "The user was disabled: their sessions, tokens and app passwords were revoked.",
    "factors": "Two-step sign-in was reset: every second factor and recovery code was removed.",
}


@bp.get("/users/<username>")
@admin_page
def user(username: str):
    """Everything about one user, with the forms that change them."""
    users = services().admin_users()
    return _page(users, users.require(username))


@bp.post("/users/<username>/profile")
@admin_page
def edit_profile(username: str):
    form = request.form
    values: dict[str, Any] = {
        "email": form.get("email", ""),
        "displayName": form.get("displayName", ""),
        "roles": form.get("roles", ""),
        "groups": form.getlist("groups"),
        "enabled": form.get("enabled") == "1",
    }
    users = services().admin_users()
    person = users.require(username)
    errors = forms.Errors()
    roles = errors.check(forms.role_names, values["roles"], default=[])
    try:
        data = schemas.UserUpdate().load(
            {
                "email": forms.optional(values["email"]),
                "displayName": forms.optional(values["displayName"]),
                "roles": roles,
                "groups": values["groups"],
                "enabled": values["enabled"],
            }
        )
    except ValidationError as invalid:
        for field, message in forms.validation_errors(invalid).items():
            errors.add(field, message)
    if errors:
        return _page(users, person, "profile", forms.ordered(errors, PROFILE_FIELDS), values, 400)
    try:
        users.update(
            caller().username,
            username,
            email=data["email"],
            display_name=data["displayName"],
            roles=data["roles"],
            groups=data["groups"],
            enabled=data["enabled"],
        )
    except AdminError as refused:
        return _page(
            users, person, "profile", forms.admin_errors(refused, PROFILE_FIELDS), values, refused.status
        )
    return _done(username, "updated")


@bp.post("/users/<username>/password")
@admin_page
def reset_password(username: str):
    users = services().admin_users()
    person = users.require(username)
    new, confirm = request.form.get("newPassword", ""), request.form.get("confirmPassword", "")
    errors = forms.Errors()
    if not new:
        errors.add("newPassword", "Enter the new password.")
    if not confirm:
        errors.add("confirmPassword", "Enter the new password a second time.")
    elif new != confirm:
        errors.add("confirmPassword", "The two passwords are not the same.")
    if errors:
        return _page(users, person, "password", forms.ordered(errors, PASSWORD_FIELDS), {}, 400)
    try:
        users.reset_password(
            caller().username, username, new, temporary=request.form.get("mustChangePassword") == "1"
        )
    except AdminError as refused:
        return _page(
            users, person, "password", forms.admin_errors(refused, PASSWORD_FIELDS), {}, refused.status
        )
    return _done(username, "password")


@bp.post("/users/<username>/values")
@admin_page
def set_values(username: str):
    """The per-user storage quota and other answer values (replacing the stored ones)."""
    users = services().admin_users()
    person = users.require(username)
    values = {
        "maxStorageMB": request.form.get("maxStorageMB", ""),
        "metadata": request.form.get("metadata", ""),
    }
    errors = forms.Errors()
    quota = errors.check(forms.quota, values["maxStorageMB"])
    chosen = errors.check(forms.metadata, values["metadata"], default={})
    if "maxStorageMB" in chosen:
        errors.add("metadata", "Set the storage quota in its own field, not here.")
    if errors:
        return _page(users, person, "values", forms.ordered(errors, VALUES_FIELDS), values, 400)
    if quota is not None:
        chosen = {"maxStorageMB": quota, **chosen}
    try:
        users.set_metadata(
            caller().username,
            username,
            chosen,
            confirm_quota_shrink=request.form.get("confirmQuotaShrink") == "1",
        )
    except AdminError as refused:
        return _page(
            users,
            person,
            "values",
            forms.admin_errors(refused, VALUES_FIELDS, fallback="metadata"),
            values,
            refused.status,
        )
    return _done(username, "values")


@bp.get("/users/<username>/disable")
@admin_page
def confirm_disable(username: str):
    """The confirmation step: what disabling this user ends, and the button that does it
    (or, for the admin themselves, why it cannot be done, before anything is clicked)."""
    users = services().admin_users()
    person = users.require(username)
    refusal = "You cannot disable yourself." if username == caller().username else None
    return _confirm_disable(users, person, refusal, 409 if refusal else 200)


@bp.post("/users/<username>/status")
@admin_page
def set_status(username: str):
    """Enable (``enabled=1``) or disable (``enabled=0``) a user of any provider. The user page
    enables at once and reaches a disable through :func:`confirm_disable`; a refusal is shown
    at the top of the page that asked."""
    users = services().admin_users()
    person = users.require(username)
    enabled = request.form.get("enabled") == "1"
    try:
        users.update(caller().username, username, enabled=enabled)
    except AdminError as refused:
        if not enabled:
            return _confirm_disable(users, person, forms.plain(refused.message), refused.status)
        return _page(
            users, person, "status", {forms.GENERAL: forms.plain(refused.message)}, {}, refused.status
        )
    return _done(username, "enabled" if enabled else "disabled")


@bp.post("/users/<username>/factors/reset")
@admin_page
def reset_factors(username: str):
    """Remove every second factor of a user (they lost their device); audited."""
    users = services().admin_users()
    users.require(username)
    services().user_operations().reset_factors(username, actor=caller().username)
    return _done(username, "factors")


@bp.get("/users/<username>/delete")
@admin_page
def confirm_delete(username: str):
    """The confirmation step: what deleting this user does, and the button that does it."""
    users = services().admin_users()
    return _confirm(users, users.require(username))


@bp.post("/users/<username>/delete")
@admin_page
def delete(username: str):
    users = services().admin_users()
    person = users.require(username)
    try:
        users.delete(caller().username, username)
    except AdminError as refused:
        return _confirm(users, person, refused.message, refused.status)
    return redirect(url_for("admin_ui.users", done="deleted"), 303)


def _confirm(users: AdminUsers, person: Person, error: str | None = None, status: int = 200):
    return render("admin/user_delete.html", "users", status, user=detail(users, person), error=error)


def _confirm_disable(users: AdminUsers, person: Person, error: str | None = None, status: int = 200):
    return render(
        "admin/user_disable.html",
        "users",
        status,
        user=detail(users, person),
        registry_account=users.has_registry_account(person.username),
        error=error,
    )


def _done(username: str, what: str):
    # The forms post to a fragment (their heading), so that a refused one opens at its error
    # summary; a done one opens at the notice (an explicit fragment, or the browser keeps the
    # form's).
    return redirect(url_for("admin_ui.user", username=username, done=what, _anchor="notice"), 303)


def _page(
    users: AdminUsers,
    person: Person,
    failed: str | None = None,
    errors: dict | None = None,
    values: dict | None = None,
    status: int = 200,
):
    """The detail page; after a refused form, that form shows the errors and what was typed."""
    svc = services()
    evaluation = users.people.evaluation(person)
    answer = (  # a disabled user's sign-in is refused whatever the rules would give
        build_answer(person.username, evaluation)
        if evaluation is not None and not evaluation.denied and person.enabled
        else None
    )
    metadata = users.metadata(person.username) if person.local is not None else {}
    local_users = svc.local_users
    stored = {
        "email": person.local.email if person.local else None,
        "displayName": person.local.display_name if person.local else None,
        "roles": forms.lines_text(person.local.overrides.get("roles", [])) if person.local else "",
        "groups": list(person.local.groups) if person.local else [],
        "enabled": person.enabled,
        "maxStorageMB": forms.quota_text(metadata.get("maxStorageMB")),
        "metadata": forms.metadata_text({k: v for k, v in metadata.items() if k != "maxStorageMB"}),
    }
    return render(
        "admin/user.html",
        "users",
        status,
        user=detail(users, person),
        person=person,
        sign_ins=svc.activity().of_user(person.username),
        evaluation=evaluation,
        answer_json=json.dumps(answer, indent=2) if answer else None,
        values={**stored, **(values or {})},
        failed=failed,
        errors=errors or {},
        all_groups=[name for name, _ in local_users.list_groups()] if local_users else [],
        is_self=person.username == caller().username,
        password_min=local_users.policy.min_length if local_users else 0,
        notice=NOTICES.get(request.args.get("done", "")),
        factors=svc.user_operations().factors(person.username),
    )
