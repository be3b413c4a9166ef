"""``/admin/users`` (the list: filter, sort, pages) and ``/admin/new-user`` (create a local
user). The create form lives outside ``/admin/users/`` so that no username can clash with it.
"""

from __future__ import annotations

from flask import redirect, request, url_for
from marshmallow import ValidationError

from gateway.admin.bulk import ACTIONS
from gateway.admin.errors import AdminError
from gateway.http.adminapi import schemas
from gateway.http.adminui import forms
from gateway.http.adminui.base import admin_page, bp, caller, render
from gateway.http.adminui.userlist import PER_PAGE, SORTS, STATUSES, Query, listing
from gateway.http.appservices import services
from providers.local.policy import PasswordRejected

CREATE_FIELDS = ("userName", "password", "email", "displayName", "roles", "groups", "maxStorageMB")
NOTICES = {"deleted": "The user was deleted. Their sessions, tokens and app passwords no longer work."}


@bp.get("/users")
@admin_page
def users():
    """The users table for the query string's filter, sort and page."""
    return users_page()


def users_page(*, bulk_error: str | None = None, status: int = 200):
    """The users table (with a bulk action's refusal above its bulk form, when there is one):
    per-user figures for the page's rows in one query, the groups a bulk action can add to."""
    svc = services()
    query = Query.from_args(request.args)
    admin_users = svc.admin_users()
    found = listing(admin_users.people, query)
    names = [row.person.username for row in found.rows]
    local_users = svc.local_users
    return render(
        "admin/users.html",
        "users",
        status,
        listing=found,
        figures=svc.activity().figures(names),
        bulk_actions=ACTIONS,
        bulk_groups=[name for name, _ in local_users.list_groups()] if local_users is not None else [],
        bulk_error=bulk_error,
        me_name=caller().username,
        storage=admin_users.storage(names),
        query=found.query,
        sorts=SORTS,
        statuses=STATUSES,
        per_page_choices=PER_PAGE,
        providers=[p.id for p in svc.providers.active()],
        notice=NOTICES.get(request.args.get("done", "")),
    )


@bp.get("/new-user")
@admin_page
def new_user():
    """The empty create-user form."""
    return _form()


@bp.post("/new-user")
@admin_page
def create_user():
    """Create a local user from the form; a refused form comes back with every problem at
    once (a summary at the top, each message next to its field) and what was typed (except
    the password)."""
    form = request.form
    values = {
        "userName": form.get("userName", "").strip(),
        "email": form.get("email", ""),
        "displayName": form.get("displayName", ""),
        "roles": form.get("roles", ""),
        "groups": form.getlist("groups"),
        "maxStorageMB": form.get("maxStorageMB", ""),
        "mustChangePassword": bool(form.get("mustChangePassword")),
    }
    password = form.get("password", "")
    errors = forms.Errors()
    admin_users = services().admin_users()
    if not values["userName"]:
        errors.add("userName", "Enter a username.")
    elif spelling := admin_users.username_problem(values["userName"]):
        errors.add("userName", forms.plain(spelling))
    if not password:
        errors.add("password", "Enter a password.")
    roles = errors.check(forms.role_names, values["roles"], default=[])
    quota = errors.check(forms.quota, values["maxStorageMB"])
    data: dict = {}
    try:
        data = schemas.UserCreate().load(
            {
                "userName": values["userName"] or "?",  # "missing" is said above, once
                "password": password or "?",
                "email": forms.optional(values["email"]),
                "displayName": forms.optional(values["displayName"]),
                "roles": roles or None,
                "groups": values["groups"],
                "mustChangePassword": values["mustChangePassword"],
            }
        )
    except ValidationError as invalid:
        for field, message in forms.validation_errors(invalid).items():
            errors.add(field, message)
    local_users = services().local_users
    try:  # the password policy too, so that every problem is shown at once
        if local_users is not None and password:
            local_users.policy.check(password, values["userName"], forms.optional(values["email"]))
    except PasswordRejected as rejected:
        errors.add("password", forms.plain(str(rejected)))
    if errors:
        return _form(values, forms.ordered(errors, CREATE_FIELDS), 400)
    try:
        person = admin_users.create(
            caller().username,
            data["userName"],
            data["password"],
            email=data["email"],
            display_name=data["displayName"],
            roles=data["roles"],
            groups=data["groups"],
            metadata=None if quota is None else {"maxStorageMB": quota},
            temporary=data["mustChangePassword"],
        )
    except AdminError as refused:
        return _form(values, forms.admin_errors(refused, CREATE_FIELDS), refused.status)
    return redirect(url_for("admin_ui.user", username=person.username, done="created"), 303)


def _form(values: dict | None = None, errors: dict | None = None, status: int = 200):
    local_users = services().local_users
    groups = [name for name, _ in local_users.list_groups()] if local_users is not None else []
    return render(
        "admin/user_new.html",
        "users",
        status,
        values=values or {"groups": []},
        errors=errors or {},
        all_groups=groups,
        can_create=local_users is not None,
        password_min=local_users.policy.min_length if local_users is not None else 0,
    )
