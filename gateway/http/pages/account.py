"""The self-service page of a signed-in person: what the Registry receives for them, their
app passwords for the command line (create: shown once; revoke), a change of their own
password (local users), and a way into the admin pages for admins."""

from __future__ import annotations

import json
import re

from flask import Blueprint, make_response, redirect, request

from gateway.admin.errors import AdminError
from gateway.admin.selfservice import APP_PASSWORDS
from gateway.http import shownonce
from gateway.http.adminapi.base import principal_for
from gateway.http.appservices import services
from gateway.http.browser import (
    csrf_token,
    page,
    signed_in,
    signed_in_form,
)
from gateway.http.pagehandlers import SCRIPT_PAGE_POLICY
from gateway.login.answer import build_answer
from gateway.sso.sessions import SessionRecord
from providers.sql import utcnow

bp = Blueprint("account", __name__)
NOTICES = {"password": "Your password was changed."}


@bp.get("/account")
def show():
    session = signed_in()
    if session is None:
        return redirect("/", 303)
    shown = shownonce.take(session.id)
    if shown is None:
        response = make_response(_render(session))
    else:
        response = make_response(_render(session, new_password=shown.secret, new_name=shown.name))
        response.headers["Content-Security-Policy"] = SCRIPT_PAGE_POLICY  # the copy button
    if shownonce.present():
        shownonce.expire(response)  # shown once: a reload shows nothing
    return response


@bp.post("/account/app-passwords")
@signed_in_form
def create_app_password(session: SessionRecord):
    """Create an app password through the operation the admin API's /me endpoints use."""
    days = request.form.get("expires_days", "").strip()
    if days and not re.fullmatch(r"[0-9]{1,5}", days):
        return _render(session, error="Expiry must be a whole number of days.", status=400)
    try:
        view, password = (
            services()
            .own_secrets(APP_PASSWORDS)
            .create(
                session.username, request.form.get("name", ""), int(days) if days else None, via="browser"
            )
        )
    except AdminError as refused:
        return _render(session, error=refused.message, status=refused.status)
    # POST-redirect-GET: a reload of the page that shows the password creates nothing.
    response = redirect("/account#new-app-password-box", 303)
    shownonce.hand_over(response, session.id, shownonce.ShownOnce(view.name, password))
    return response


@bp.post("/account/app-passwords/<public_id>/revoke")
@signed_in_form
def revoke_app_password(session: SessionRecord, public_id: str):
    """Revoke one of one's app passwords; one already gone (or never one's) changes nothing."""
    try:
        services().own_secrets(APP_PASSWORDS).revoke(session.username, public_id)
    except AdminError as refused:
        if refused.status != 404:
            raise
    return redirect("/account", 303)


@bp.post("/account/password")
@signed_in_form
def change_password(session: SessionRecord):
    """A local user changes their own password (the current one is checked and throttled)."""
    current = request.form.get("currentPassword", "")
    new, confirm = request.form.get("newPassword", ""), request.form.get("confirmPassword", "")
    if not current or not new:
        field = "currentPassword" if not current else "newPassword"
        return _render(session, password_errors={field: "Enter this password."}, status=400)
    if new != confirm:
        return _render(
            session,
            status=400,
            password_errors={"confirmPassword": "The two new passwords are not the same."},
        )
    try:
        services().admin_users().change_own_password(session.username, current, new, keep_session=session.id)
    except AdminError as refused:
        field = refused.field if refused.field in ("currentPassword", "newPassword") else "general"
        return _render(session, password_errors={field: _sentence(refused.message)}, status=refused.status)
    return redirect("/account?done=password#change-password", 303)


def _sentence(text: str) -> str:
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def _render(session: SessionRecord, *, status: int = 200, **extra):
    svc = services()
    evaluation = svc.mapping.evaluate(session.identity)
    answer = None if evaluation.denied else build_answer(session.identity.username, evaluation)
    app_passwords = svc.app_passwords.list(session.username)
    person = svc.people().get(session.username)
    extra.setdefault("password_errors", {})
    return page(
        "account.html",
        status,
        session=session,
        csrf=csrf_token(session),
        answer_json=json.dumps(answer, indent=2) if answer else None,
        app_passwords=app_passwords,
        now=utcnow(),
        is_admin=_is_admin(session),
        provider_name=services().sso.display_name(session.provider),
        local_password=person is not None and not person.read_only,
        notice=NOTICES.get(request.args.get("done", "")),
        **extra,
    )


def _is_admin(session: SessionRecord) -> bool:
    """Whether the signed-in person holds the admin role now."""
    try:
        return principal_for(session.identity, session.id, "browser").is_admin
    except AdminError:
        return False
