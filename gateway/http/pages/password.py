"""``/password/forgot`` and ``/password/reset/<token>``: password reset by e-mail
(:mod:`gateway.admin.passwordreset`).

The forgot form answers every accepted request with the same page, built the same way,
whether or not the name or address belongs to anyone; the mail (if any) is found and sent
by the mail deliverer afterwards. Both forms carry a CSRF token bound to the browser's binding
cookie, like the sign-in form. Pages are 404 while ``self_service.password_reset`` is off.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request

from gateway.admin.linktokens import TOKEN
from gateway.admin.passwordreset import LINK_EXPIRED, Requested, ResetRefused
from gateway.admin.selfservicebase import MAX_IDENTIFIER_CHARS
from gateway.http.browser import (
    change_ticket_user,
    clear_change_ticket,
    login_form_ok,
    login_form_page,
    refuse_form,
    services,
)
from gateway.http.clientinfo import client_address
from gateway.http.nexturl import safe_next
from providers.local.policy import PasswordRejected
from providers.local.users import UserError

bp = Blueprint("password", __name__)

MAX_PASSWORD_CHARS = 4096
MISSING = "Enter your username or e-mail address."
THROTTLED = "Too many requests. Wait a while and try again."
MISMATCH = "The two passwords are not the same."
EMPTY = "Enter the new password twice."
CHANGE_EXPIRED = "This form has expired. Sign in again with your temporary password."
EXPIRED = LINK_EXPIRED


def _reset():
    reset = services().password_reset()
    if not reset.enabled:
        abort(404)
    return reset


@bp.get("/password/forgot")
def forgot_form():
    """The form, or (``?sent=1``, where an accepted request is redirected) the "check your
    mail" page, the same for everyone."""
    reset = _reset()
    sent = request.args.get("sent") == "1"
    return login_form_page("password_forgot.html", 200, error=None, sent=sent, links=reset.provider_links)


@bp.post("/password/forgot")
def forgot_submit():
    reset = _reset()
    if not login_form_ok():
        return refuse_form()
    identifier = request.form.get("identifier", "")
    if not identifier.strip() or len(identifier) > MAX_IDENTIFIER_CHARS:
        return login_form_page(
            "password_forgot.html", 400, error=MISSING, sent=False, links=reset.provider_links
        )
    outcome = reset.request(identifier, client_address() or "")
    if outcome is Requested.THROTTLED:
        return login_form_page(
            "password_forgot.html",
            429,
            retry_after=reset.settings.throttle_window_seconds,
            error=THROTTLED,
            sent=False,
            links=reset.provider_links,
        )
    # Redirected, so that reloading the page that says so does not post (and mail) again.
    return redirect("/password/forgot?sent=1", 303)


@bp.get("/password/reset/<token>")
def reset_form(token: str):
    reset = _reset()
    if not TOKEN.fullmatch(token) or not reset.valid(token):
        return login_form_page("password_reset.html", 410, error=EXPIRED, token=None, done=False)
    return login_form_page("password_reset.html", 200, error=None, token=token, done=False)


@bp.post("/password/reset/<token>")
def reset_submit(token: str):
    reset = _reset()
    if not login_form_ok():
        return refuse_form()
    if not TOKEN.fullmatch(token):
        return login_form_page("password_reset.html", 410, error=EXPIRED, token=None, done=False)
    password = request.form.get("password", "")
    confirm = request.form.get("confirm", "")
    if not password or not confirm or len(password) > MAX_PASSWORD_CHARS:
        return login_form_page("password_reset.html", 400, error=EMPTY, token=token, done=False)
    if password != confirm:
        return login_form_page("password_reset.html", 400, error=MISMATCH, token=token, done=False)
    try:
        reset.reset(token, password)
    except ResetRefused as refused:
        still = reset.valid(token)
        return login_form_page(
            "password_reset.html",
            400 if still else 410,
            error=str(refused),
            token=token if still else None,
            done=False,
        )
    return login_form_page("password_reset.html", 200, error=None, token=None, done=True)


# ---- a temporary password, changed at the first sign-in ----------------------------------


@bp.get("/password/change")
def change_form():
    """The form a person with a temporary password lands on after the sign-in form."""
    username = change_ticket_user()
    if username is None or not _must_change(username):
        return redirect("/login", 303)
    return _change_page(200, None, username)


@bp.post("/password/change")
def change_submit():
    if not login_form_ok():
        return refuse_form()
    username = change_ticket_user()
    if username is None or not _must_change(username):
        return _change_page(410, CHANGE_EXPIRED, None)
    password = request.form.get("password", "")
    confirm = request.form.get("confirm", "")
    error = None
    if not password or not confirm or len(password) > MAX_PASSWORD_CHARS:
        error = EMPTY
    elif password != confirm:
        error = MISMATCH
    else:
        try:
            services().user_operations().set_password(
                username, password, actor=username, event="temporary_password_changed"
            )
        except (PasswordRejected, UserError) as rejected:
            error = f"That password cannot be used: {rejected}."
    if error is not None:
        return _change_page(400, error, username)
    response = _change_page(200, None, username, done=True)
    clear_change_ticket(response)
    return response


def _change_page(status: int, error: str | None, username: str | None, done: bool = False):
    return login_form_page(
        "password_change.html", status, error=error, username=username, next_url=_next(), done=done
    )


def _must_change(username: str) -> bool:
    local = services().local_users
    return local is not None and local.must_change_password(username)


def _next() -> str:
    return safe_next(request.values.get("next"), services().sso.redirects) or ""
