"""``/register`` and ``/register/verify/<token>``: self-registration
(:mod:`gateway.admin.registration`). 404 while ``self_service.registration.enabled`` is off.
The forms carry a CSRF token bound to the browser's binding cookie, like the sign-in form; the
verification link shows a button (a POST uses it), so a mail scanner that follows links does
not spend it."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, request

from gateway.admin.linktokens import TOKEN
from gateway.admin.registration import ACTIVE, AWAITING_APPROVAL, CHECK_MAIL, RegistrationRefused
from gateway.http.browser import (
    login_form_ok,
    login_form_page,
    refuse_form,
    services,
)
from gateway.http.clientinfo import client_address

bp = Blueprint("register", __name__)

MAX_FIELD_CHARS = 1024
MISMATCH = "The two passwords are not the same."
EXPIRED = "This link has expired or has already been used."


def _registration():
    registration = services().registration()
    if not registration.enabled:
        abort(404)
    return registration


def _form(status: int, errors: dict[str, str] | None = None, values: dict[str, str] | None = None):
    registration = _registration()
    return login_form_page(
        "register.html",
        status,
        errors=errors or {},
        values=values or {},
        outcome=None,
        domains=registration.settings.allowed_email_domains,
        password_min=services().config.password_policy.min_length,
    )


@bp.get("/register")
def form():
    """The form, or (``?done=<outcome>``, where an accepted registration is redirected) the page
    saying what happens next. The outcome depends only on the settings (an address already in
    use answers ``check_mail`` like a new one), so the address tells nothing about anyone."""
    done = request.args.get("done")
    if done in (CHECK_MAIL, AWAITING_APPROVAL, ACTIVE):
        _registration()
        return login_form_page(
            "register.html", 200, errors={}, values={}, outcome=done, domains=(), password_min=0
        )
    return _form(200)


@bp.post("/register")
def submit():
    registration = _registration()
    if not login_form_ok():
        return refuse_form()
    values = {
        key: request.form.get(key, "")[:MAX_FIELD_CHARS] for key in ("username", "email", "display_name")
    }
    password, confirm = request.form.get("password", ""), request.form.get("confirm", "")
    errors = {}
    for key, label in (("username", "Choose a username."), ("email", "Enter your e-mail address.")):
        if not values[key].strip():
            errors[key] = label
    if not password:
        errors["password"] = "Choose a password."
    elif len(password) > MAX_FIELD_CHARS:
        errors["password"] = "The password is too long."
    elif password != confirm:
        errors["confirm"] = MISMATCH
    if errors:
        return _form(400, errors, values)
    try:
        outcome = registration.register(
            values["username"],
            values["email"],
            password,
            values["display_name"].strip() or None,
            client_address() or "",
        )
    except RegistrationRefused as refused:
        return _form(refused.status, {refused.field: refused.message}, values)
    # Redirected, so that reloading the page that says so does not post the form again.
    return redirect(f"/register?done={outcome}", 303)


@bp.get("/register/verify/<token>")
def verify_form(token: str):
    registration = _registration()
    valid = TOKEN.fullmatch(token) is not None and registration.verifiable(token)
    return login_form_page(
        "register_verify.html",
        200 if valid else 410,
        token=token if valid else None,
        outcome=None,
        error=None if valid else EXPIRED,
    )


@bp.post("/register/verify/<token>")
def verify_submit(token: str):
    registration = _registration()
    if not login_form_ok():
        return refuse_form()
    outcome = registration.verify(token) if TOKEN.fullmatch(token) else None
    if outcome is None:
        return login_form_page("register_verify.html", 410, token=None, outcome=None, error=EXPIRED)
    return login_form_page("register_verify.html", 200, token=None, outcome=outcome, error=None)
