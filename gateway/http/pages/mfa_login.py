"""``/login/mfa``: the second step of a password sign-in, for accounts with a second factor
or that the policy requires one of (``require_mfa`` rules, ``mfa.admins_required``).

``/login`` verifies the password, then (:func:`begin`) hands the browser a short-lived pending
login sealed under the server secret (:mod:`gateway.mfa.pending`) in an HttpOnly cookie and
sends it here. Here the person proves a second factor: a TOTP code, a passkey
(``navigator.credentials.get``), or a one-time recovery code; or, with no factor yet and the
policy requiring one, enrols one first (and is shown recovery codes once). Only then does the
session open, as ``/login`` opens it. Checks are throttled per account and audited by factor
type; the forms' CSRF tokens are bound to the binding cookie as on ``/login``.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, make_response, redirect, request

from gateway.http import shownonce
from gateway.http.appservices import services
from gateway.http.browser import (
    login_form_ok,
    login_form_page,
    refuse_form,
    secure,
)
from gateway.http.clientinfo import current_client
from gateway.http.nexturl import safe_next
from gateway.http.pagehandlers import SCRIPT_PAGE_POLICY
from gateway.http.pages import login as password_login
from gateway.http.pages.account_mfa import RECOVERY_NAME
from gateway.http.pages.mfaforms import enrol_posted_passkey, enrol_posted_totp, enrolment_context
from gateway.login.outcome import Granted, Refused, SecondFactor, Throttled
from gateway.login.throttle import Throttled as ThrottledAccount
from gateway.mfa.factors import PASSKEY, TOTP, FactorError
from gateway.mfa.pending import LIFETIME_SECONDS, PendingLogin, PendingSeal, UnreadablePending
from gateway.mfa.service import SecondFactorFailed
from gateway.sso.service import NOT_ALLOWED

bp = Blueprint("mfa_login", __name__)

COOKIE = "gw_mfa_pending"
WRONG = "That code or passkey was not accepted."
THROTTLED = "Too many failed attempts for this account. Wait a while and try again."


def cookie_name() -> str:
    return "__Host-" + COOKIE if secure() else COOKIE


def _seal() -> PendingSeal:
    return PendingSeal(services().settings.key_encryption_key)


def begin(outcome: SecondFactor, next_url: str | None):
    """The answer to a right password that needs a second factor: the sealed pending login
    in its cookie, and a redirect to the second step."""
    svc = services()
    chosen = safe_next(next_url, svc.sso.redirects) or ""
    pending = _seal().start(outcome.identity, chosen, enrol=outcome.enrol)
    response = redirect("/login/mfa", 303)
    response.set_cookie(
        cookie_name(),
        _seal().seal(pending),
        max_age=LIFETIME_SECONDS,
        path="/",
        secure=secure(),
        httponly=True,
        samesite="Lax",
    )
    return response


def _pending() -> PendingLogin | None:
    try:
        return _seal().open(request.cookies.get(cookie_name()))
    except UnreadablePending:
        return None


def _expired():
    """No (or no longer a) pending login: back to the password."""
    response = redirect("/login", 303)
    _clear(response)
    return response


def _clear(response) -> None:
    response.delete_cookie(cookie_name(), path="/", secure=secure(), httponly=True, samesite="Lax")


@bp.get("/login/mfa")
def form():
    pending = _pending()
    if pending is None:
        return _expired()
    return _page(pending, 200)


@bp.post("/login/mfa/totp")
def totp():
    return _check(TOTP, lambda username: services().mfa.check_totp(username, request.form.get("code", "")))


@bp.post("/login/mfa/recovery")
def recovery():
    return _check(
        "recovery_code",
        lambda username: services().mfa.check_recovery_code(username, request.form.get("code", "")),
    )


@bp.post("/login/mfa/passkey")
def passkey():
    return _check(
        PASSKEY, lambda username: services().mfa.check_passkey(username, request.form.get("credential", ""))
    )


def _posted(*, enrol: bool):
    """The pending login a second-factor form was posted for, or the response that refuses
    the form: a forged form, no (longer a) pending login, a form of the other step (``enrol``
    says which step the form belongs to)."""
    if not login_form_ok():
        return refuse_form()
    pending = _pending()
    if pending is None:
        return _expired()
    if bool(pending.enrol) != enrol:
        return _page(pending, 400)
    return pending


def _check(kind: str, check):
    started = time.perf_counter()
    pending = _posted(enrol=False)
    if not isinstance(pending, PendingLogin):
        return pending
    try:
        check(pending.identity.username)
    except ThrottledAccount as throttled:
        return _page(pending, 429, error=THROTTLED, retry_after=int(throttled.wait_seconds) + 1)
    except SecondFactorFailed:
        return _page(pending, 401, error=WRONG)
    return _finish(pending, kind, started)


@bp.post("/login/mfa/enrol/totp")
def enrol_totp():
    return _enrol(TOTP, enrol_posted_totp, "totp_error")


@bp.post("/login/mfa/enrol/passkey")
def enrol_passkey():
    return _enrol(PASSKEY, enrol_posted_passkey, "passkey_error")


def _enrol(kind: str, enrol, error_field: str):
    """A first factor enrolled during the sign-in proves it: the session opens."""
    started = time.perf_counter()
    pending = _posted(enrol=True)
    if not isinstance(pending, PendingLogin):
        return pending
    try:
        enrol(pending.identity.username)
    except FactorError as error:
        shown: dict[str, Any] = {error_field: str(error).capitalize() + "."}
        return _page(pending, 400, **shown)
    return _finish(pending, kind, started, new_codes=True)


def _finish(pending: PendingLogin, kind: str, started: float, *, new_codes: bool = False):
    """The factor was proven: open the session as /login does, forget the pending login."""
    svc = services()
    outcome = svc.login.second_factor_passed(pending.identity, kind, started, client=current_client())
    if isinstance(outcome, Granted):
        if not new_codes:
            response = password_login._signed_in(outcome, pending.next_url or None)
        else:  # just enrolled: the recovery codes are shown once on the account's MFA page
            assert outcome.session is not None
            response = password_login._signed_in(outcome, "/account/mfa#recovery-codes")
            codes = svc.mfa.new_recovery_codes(pending.identity.username)
            shownonce.hand_over(
                response, outcome.session.id, shownonce.ShownOnce(RECOVERY_NAME, " ".join(codes))
            )
        _clear(response)
        return response
    if isinstance(outcome, Throttled):
        return _page(pending, 429, error=THROTTLED, retry_after=outcome.retry_after)
    if isinstance(outcome, Refused):
        response = make_response(_page(pending, outcome.status, error=NOT_ALLOWED))
        _clear(response)
        return response
    raise outcome.error


def _page(
    pending: PendingLogin, status: int, *, error: str | None = None, retry_after: int | None = None, **extra
):
    svc = services()
    username = pending.identity.username
    context: dict = {}
    if pending.enrol:
        template = "login_mfa_enrol.html"
        context = enrolment_context(username)
    else:
        template = "login_mfa.html"
        factors = svc.mfa.factors.views(username)
        kinds = {f.kind for f in factors}
        passkeys = svc.mfa.factors.passkeys(username)
        context = {
            "has_totp": TOTP in kinds,
            "has_passkey": PASSKEY in kinds,
            "passkey_options": svc.mfa.passkeys.authentication_options(username, passkeys)
            if passkeys
            else "",
            "has_recovery": svc.mfa.factors.recovery_codes_left(username) > 0,
        }
    response = login_form_page(
        template, status, retry_after=retry_after, username=username, error=error, **context, **extra
    )
    response.headers["Content-Security-Policy"] = SCRIPT_PAGE_POLICY
    return response
