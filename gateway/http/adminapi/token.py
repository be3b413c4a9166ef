"""``POST /api/token``: a bearer token for the admin API.

With ``username`` + ``password`` (form or JSON) it is a password login like the Registry's
(same throttle, same providers; app passwords refused) that opens a session; an account with
two-step sign-in also sends ``totp`` (a current authenticator code), or is refused with a 401
saying so (scripts use a personal API key instead); with no body, a
browser signed in to the gateway gets a token for its session. Either way the token is bound
to a session, so signing out, an admin's revocation or disabling the user ends it. Its audience
is the admin API's own: it is not a Registry login, and a Registry token is no admin token.
"""

from __future__ import annotations

import time

from flask import Blueprint, request

from gateway.admin.errors import AdminError
from gateway.http.adminapi import schemas
from gateway.http.adminapi.base import body, doc, ok, principal_for, services
from gateway.http.browser import signed_in
from gateway.http.clientinfo import current_client
from gateway.http.origins import origin_accepted
from gateway.login.federation import Denied
from gateway.login.outcome import Granted, Refused, Throttled
from gateway.login.refusals import SECOND_FACTOR_ENROL_FIRST, SECOND_FACTOR_MISSING, SECOND_FACTOR_WRONG
from gateway.mfa.service import SecondFactorFailed
from gateway.sso.sessions import SessionRecord
from providers.sql import utcnow

token_bp = Blueprint("api_token", __name__)


@token_bp.post("/api/token")
@doc(
    "Get a bearer token: username + password, or the browser's gateway session",
    request_schema=schemas.TokenRequest,
    response_schema=schemas.TokenResponse,
    admin=False,
    responses={401: "wrong credentials", 403: "not allowed to log in", 429: "throttled"},
)
def issue_token():
    svc = services()
    if not request.get_data(cache=True) and request.mimetype != "application/json":
        session = signed_in()
        origin = request.headers.get("Origin")
        if session is None or not origin_accepted(origin, svc.settings.public_url):
            raise AdminError(401, "send username and password, or sign in first")
    else:
        data = body(schemas.TokenRequest())
        session = _password_session(data["username"], data["password"], data.get("totp"))
    token = svc.admin_tokens.mint(
        session.username, session.id, expires_at=min(session.expires_at, utcnow() + svc.sso.token_lifetime)
    )
    caller = principal_for(session.identity, session.id, "token")
    lifetime = int(
        min(svc.sso.token_lifetime.total_seconds(), max(1, (session.expires_at - utcnow()).total_seconds()))
    )
    return ok(
        {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "username": caller.username,
            "admin": caller.is_admin,
        }
    )


NEEDS_TOTP = (
    "this account uses two-step sign-in: send a current authenticator code in 'totp', "
    "or authenticate scripts with a personal API key (Authorization: Bearer gwak_...)"
)
NEEDS_ENROLMENT = (
    "this account must set up two-step sign-in first: sign in at /login in a browser; "
    "scripts can then use a personal API key"
)


def _password_session(username: str, password: str, code: str | None) -> SessionRecord:
    """The session a password login opens for the admin API; AdminError for any other outcome.
    An account with two-step sign-in sends a TOTP code in the same request (a passkey needs a
    browser; an account still to enrol enrols in one); the login service records the request
    once, with its real outcome."""
    outcome = services().login.admin_api_password(
        username, password, time.perf_counter(), current_client(), code=code, check_code=_check_totp
    )
    if isinstance(outcome, Granted):
        assert outcome.session is not None  # this way in always opens one
        return outcome.session
    if isinstance(outcome, Refused):
        if outcome.reason == "app_password_for_admin_api":
            # App passwords are for the Registry's password path (ddb login) only.
            raise AdminError(401, "app passwords work only for Registry logins; use your password")
        if outcome.reason == SECOND_FACTOR_ENROL_FIRST:
            raise AdminError(403, NEEDS_ENROLMENT)
        if outcome.reason == SECOND_FACTOR_MISSING:
            raise AdminError(401, NEEDS_TOTP)
        raise AdminError(outcome.status, "invalid credentials" if outcome.status == 401 else "access denied")
    if isinstance(outcome, Throttled):
        raise AdminError(429, "too many failed attempts; try again later", retry_after=outcome.retry_after)
    raise outcome.error  # a 503


def _check_totp(username: str, code: str) -> None:
    """The second step of ``POST /api/token``: a current TOTP code (throttled and audited by
    the mfa service); Denied when it is not accepted."""
    try:
        services().mfa.check_totp(username, code)
    except SecondFactorFailed:
        raise Denied(401, SECOND_FACTOR_WRONG) from None
