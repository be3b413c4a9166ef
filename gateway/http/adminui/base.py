"""What every admin page shares: the blueprint, the admin-only guard (signed-in session, admin
role, CSRF on every POST), the navigation, and rendering inside the admin layout.

The pages are server-rendered and work without JavaScript (the page policy allows none).
Who may use them is decided like the admin API decides (:func:`principal_for`): a local
user's identity is read fresh, so a demotion or a disable takes effect on the next click.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, g, redirect, request

from gateway.admin.errors import AdminError
from gateway.http.adminapi.base import Principal, principal_for
from gateway.http.browser import csrf_ok, csrf_token, error_page, page, refuse_form, signed_in
from gateway.http.nexturl import login_url
from gateway.sso.sessions import SessionRecord

bp = Blueprint("admin_ui", __name__, url_prefix="/admin")
NOT_ADMIN = "This page is for administrators. Your account does not have the admin role."


@dataclass(frozen=True)
class Section:
    """One entry of the admin navigation, at ``/admin/<id>``."""

    id: str
    label: str
    blurb: str

    @property
    def href(self) -> str:
        return f"/admin/{self.id}"


SECTIONS = (
    Section("users", "Users", "Everyone the gateway knows: create, edit, disable, delete."),
    Section("groups", "Groups", "Local groups and their members."),
    Section("roles", "Roles", "The role names the Registry receives."),
    Section("rules", "Rules", "How groups and users become roles and quotas."),
    Section("explain", "Explain", "Why someone gets what they get."),
    Section("sessions", "Sessions", "Who is signed in; end sessions."),
    Section("activity", "Activity", "Who is in: last sign-in per way in, address, user agent."),
    Section("audit", "Audit", "Sign-ins, refusals and every admin change."),
    Section("providers", "Providers", "Identity providers' health; trial LDAP sign-in."),
    Section("sync", "Directory sync", "Leavers and group changes from LDAP/AD: runs and schedule."),
    Section("registrations", "Registrations", "Self-registered accounts waiting to be approved."),
    Section("email", "E-mail", "Mail settings in force, messages waiting or failed; a test e-mail."),
)


@dataclass(frozen=True)
class Caller:
    """The signed-in admin of this request, and the CSRF token of their forms."""

    session: SessionRecord
    principal: Principal
    csrf: str

    @property
    def username(self) -> str:
        return self.principal.username


def caller() -> Caller:
    """The admin of the current request (only inside an :func:`admin_page` view)."""
    return g.admin_caller


def admin_page(view: Callable) -> Callable:
    """Decorator: the view needs a signed-in admin. Anonymous browsers go to the sign-in page
    (and come back); signed-in non-admins get a 403 page; a POST without this session's CSRF
    token gets a 403 page and changes nothing."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        session = signed_in()
        comeback = request.full_path.rstrip("?") if request.method == "GET" else "/admin"
        if session is None:
            return redirect(login_url(comeback), 303)
        try:
            principal = principal_for(session.identity, session.id, "browser")
        except AdminError:  # the account is gone or disabled
            return redirect(login_url(comeback), 303)
        if not principal.is_admin:
            return error_page(403, NOT_ADMIN)
        if request.method == "POST" and not csrf_ok(session):
            return refuse_form()
        g.admin_caller = Caller(session, principal, csrf_token(session))
        return view(*args, **kwargs)

    return wrapped


def render(template: str, section: str, status: int = 200, **context):
    """An admin page in the admin layout, with ``section`` marked current in the navigation."""
    me = caller()
    return page(
        template, status, sections=SECTIONS, current=section, me=me.principal, csrf=me.csrf, **context
    )


def admin_error(error: AdminError):
    """An AdminError no view handled: a page with its status and message."""
    if g.get("admin_caller") is not None:
        return render("admin/error.html", "", error.status, error_status=error.status, message=error.message)
    return error_page(error.status, error.message)
