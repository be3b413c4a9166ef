"""``/login``: browser sign-in with a username and password, for every password provider.

The same login as the Registry's password path (:meth:`gateway.login.service.LoginService.browser_password`:
same throttle, same providers, same records), then a gateway session like a browser SSO login's: the
session cookie, and the ``xAuthToken`` hand-over cookie when a Registry login URL is
configured. The form's CSRF token is bound to the browser's binding cookie (the browser has no
session yet). Unknown users and wrong passwords get the same answer; the password is never
logged, echoed or kept.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from flask import Blueprint, redirect, request

from gateway.http.browser import (
    login_form_ok,
    login_form_page,
    refuse_form,
    services,
    set_change_ticket,
    set_session_cookie,
    set_xauth_cookie,
    signed_in,
)
from gateway.http.clientinfo import current_client
from gateway.http.nexturl import safe_next
from gateway.login.outcome import Granted, PasswordChangeRequired, Refused, SecondFactor, Throttled
from gateway.sso.service import NOT_ALLOWED, UNAVAILABLE
from providers.base import Identity, ProviderUnavailable

bp = Blueprint("login", __name__)

PATH = "browser_password"
MAX_USERNAME_CHARS = 512
WRONG = "The username or password is not correct."
MISSING = "Enter your username and your password."
THROTTLED = "Too many failed sign-in attempts for this account. Wait a while and try again."
APP_PASSWORD = "App passwords are for the ddb command line. Sign in here with your account password."


@bp.get("/login")
def form():
    """The sign-in form; a browser already signed in goes straight on."""
    session = signed_in()
    if session is not None:
        return redirect(_target(request.args.get("next"), session.identity), 303)
    return _form(200, next_url=request.args.get("next"))


@bp.post("/login")
def submit():
    """Check the form; on success open a session and go to ``next`` (or the default page)."""
    if not login_form_ok():
        return refuse_form()
    started = time.perf_counter()
    username = request.form.get("username", "")[:MAX_USERNAME_CHARS]
    password = request.form.get("password", "")
    next_url = request.form.get("next")
    if not username or not password:
        return _form(400, MISSING, username, next_url)
    outcome = services().login.browser_password(username, password, started, current_client())
    if isinstance(outcome, Granted):
        return _signed_in(outcome, next_url)
    if isinstance(outcome, SecondFactor):  # the password was right; a second factor comes next
        from gateway.http.pages import mfa_login  # the second step imports this module

        return mfa_login.begin(outcome, next_url)
    if isinstance(outcome, Throttled):
        return _form(429, THROTTLED, username, next_url, outcome.retry_after)
    if isinstance(outcome, Refused):
        if isinstance(outcome.cause, PasswordChangeRequired):
            response = redirect(_change_url(next_url), 303)
            set_change_ticket(response, outcome.cause.username)
            return response
        if outcome.reason == "app_password_in_browser":
            return _form(401, APP_PASSWORD, username, next_url)
        return _form(outcome.status, WRONG if outcome.status == 401 else NOT_ALLOWED, username, next_url)
    if isinstance(outcome.error, ProviderUnavailable):
        return _form(503, UNAVAILABLE, username, next_url, 5)
    raise outcome.error


def _change_url(next_url: str | None) -> str:
    chosen = safe_next(next_url, services().sso.redirects)
    return "/password/change" + (f"?{urlencode({'next': chosen})}" if chosen else "")


def _signed_in(granted: Granted, next_url: str | None):
    """End this browser's previous session, set the cookies of the new one, go on."""
    svc = services()
    previous = signed_in()
    session = granted.session
    assert session is not None  # a browser sign-in always opens one
    if previous is not None:
        svc.sso.end({previous.id})  # one browser, one session
    response = redirect(_target(next_url, granted.identity), 303)
    set_session_cookie(response, session)
    if svc.config.sso.enabled:  # a Registry login URL is configured: hand the token over
        set_xauth_cookie(response, svc.sso.mint_for(session), session, svc.sso.token_lifetime)
    return response


def _target(next_url: str | None, identity: Identity) -> str:
    """A safe ``next``, else the admin pages for an admin and the account page for others."""
    svc = services()
    chosen = safe_next(next_url, svc.sso.redirects)
    if chosen is not None:
        return chosen
    people = svc.people()
    return "/admin" if people.is_admin(svc.mapping.evaluate(identity)) else "/account"


def _form(
    status: int,
    error: str | None = None,
    username: str = "",
    next_url: str | None = None,
    retry_after: int | None = None,
):
    """The sign-in page (with ``error`` shown, and the username kept, never the password),
    renewing the binding cookie its CSRF token is tied to."""
    svc = services()
    return login_form_page(
        "login.html",
        status,
        retry_after=retry_after,
        error=error,
        username=username,
        next_url=safe_next(next_url, svc.sso.redirects) or "",
        sso_enabled=svc.sso.enabled,
        password_reset=svc.config.self_service.password_reset and svc.mail.enabled,
        registration=svc.config.self_service.registration.enabled,
    )
