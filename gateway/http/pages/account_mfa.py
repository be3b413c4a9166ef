"""``/account/mfa``: a signed-in person's second factors: add an authenticator app (TOTP, QR
code and manual key, confirmed by one code) or a passkey (``navigator.credentials.create``,
``static/passkeys.js``), see and renew recovery codes (shown once), remove a factor (with a
current code or the password). Every form carries the session's CSRF token and answers with a
redirect (post-redirect-get); secrets shown once ride the sealed shown-once cookie."""

from __future__ import annotations

from flask import Blueprint, make_response, redirect, request

from gateway.http import shownonce
from gateway.http.appservices import services
from gateway.http.browser import csrf_token, page, signed_in, signed_in_form
from gateway.http.pagehandlers import SCRIPT_PAGE_POLICY
from gateway.http.pages.mfaforms import enrol_posted_passkey, enrol_posted_totp, enrolment_context
from gateway.login.federation import Denied
from gateway.login.throttle import Throttled
from gateway.mfa.factors import FactorError, normalize_recovery_code
from gateway.mfa.service import SecondFactorFailed
from gateway.mfa.totp import clean_code
from gateway.sso.sessions import SessionRecord

bp = Blueprint("account_mfa", __name__)

RECOVERY_NAME = "recovery codes"
NOTICES = {
    "totp": "Your authenticator app was added.",
    "passkey": "Your passkey was added.",
    "removed": "The second factor was removed.",
}
NOT_PROVEN = "Enter a current code from your authenticator app, a recovery code, or your password."
THROTTLED = "Too many failed attempts. Wait a while and try again."


@bp.get("/account/mfa")
def show():
    session = signed_in()
    if session is None:
        return redirect("/login?next=/account/mfa", 303)
    shown = shownonce.take(session.id)
    codes = shown.secret.split() if shown is not None and shown.name == RECOVERY_NAME else None
    response = make_response(_render(session, recovery_codes=codes))
    if shownonce.present():
        shownonce.expire(response)
    return response


@bp.post("/account/mfa/totp")
@signed_in_form
def add_totp(session: SessionRecord):
    try:
        enrol_posted_totp(session.username)
    except FactorError as error:
        return _render(session, status=400, totp_error=_sentence(str(error)))
    return _added(session, "totp")


@bp.post("/account/mfa/passkey")
@signed_in_form
def add_passkey(session: SessionRecord):
    try:
        enrol_posted_passkey(session.username)
    except FactorError as error:
        return _render(session, status=400, passkey_error=_sentence(str(error)))
    return _added(session, "passkey")


@bp.post("/account/mfa/recovery-codes")
@signed_in_form
def renew_recovery_codes(session: SessionRecord):
    mfa = services().mfa
    if not mfa.factors.has_factors(session.username):
        return _render(session, status=400, recovery_error="Add a second factor first.")
    response = redirect("/account/mfa#recovery-codes", 303)
    _hand_over_codes(response, session, mfa.new_recovery_codes(session.username))
    return response


@bp.post("/account/mfa/<factor_id>/remove")
@signed_in_form
def remove(session: SessionRecord, factor_id: str):
    try:
        proven = _proven(session.username, request.form.get("proof", ""))
    except Throttled:
        return _render(session, status=429, remove_error=THROTTLED)
    if not proven:
        return _render(session, status=400, remove_error=NOT_PROVEN)
    if services().mfa.remove(session.username, factor_id[:32], actor=session.username) is None:
        return _render(session, status=404, remove_error="There is no such second factor.")
    return redirect("/account/mfa?done=removed", 303)


def _proven(username: str, proof: str) -> bool:
    """Whether ``proof`` is a current TOTP code, an unused recovery code (spent), or the
    password of ``username``; every check throttled."""
    proof = proof[:1024]
    if not proof.strip():
        return False
    mfa = services().mfa
    try:
        if clean_code(proof) is not None:
            mfa.check_totp(username, proof)
            return True
        if len(normalize_recovery_code(proof)) == 10 and mfa.factors.recovery_codes_left(username):
            try:
                mfa.check_recovery_code(username, proof)
                return True
            except SecondFactorFailed:
                pass  # it may be a password that happens to look like a code
        services().password_check().verify(username, proof)
        return True
    except (SecondFactorFailed, Denied):
        return False


def _added(session: SessionRecord, kind: str):
    """After the first factor, recovery codes are made and shown once."""
    mfa = services().mfa
    response = redirect(f"/account/mfa?done={kind}", 303)
    if mfa.factors.recovery_codes_left(session.username) == 0:
        _hand_over_codes(response, session, mfa.new_recovery_codes(session.username))
    return response


def _hand_over_codes(response, session: SessionRecord, codes: list[str]) -> None:
    shownonce.hand_over(response, session.id, shownonce.ShownOnce(RECOVERY_NAME, " ".join(codes)))


def _sentence(text: str) -> str:
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def _render(session: SessionRecord, *, status: int = 200, **extra):
    svc = services()
    mfa = svc.mfa
    factors = mfa.factors.views(session.username)
    body, _ = page(
        "account_mfa.html",
        status,
        session=session,
        csrf=csrf_token(session),
        factors=factors,
        codes_left=mfa.factors.recovery_codes_left(session.username),
        required=mfa.required(svc.mapping.evaluate(session.identity)),
        notice=NOTICES.get(request.args.get("done", "")),
        refuses_registry_password=svc.config.mfa.registry_password == "refuse",
        **enrolment_context(session.username),
        **extra,
    )
    response = make_response(body, status)
    response.headers["Content-Security-Policy"] = SCRIPT_PAGE_POLICY
    return response
