"""``POST /api/token``: a bearer token for the admin API.

With ``username`` + ``password`` (form or JSON) it is a password login like the Registry's
(same throttle, same providers; app passwords refused) that opens a session; with no body, a
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
from gateway.login.outcome import Granted, Refused, Throttled
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
        session = _password_session(data["username"], data["password"])
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


def _password_session(username: str, password: str) -> SessionRecord:
    """The session a password login opens for the admin API; AdminError for any other outcome."""
    outcome = services().login.admin_api_password(username, password, time.perf_counter(), current_client())
    if isinstance(outcome, Granted):
        assert outcome.session is not None  # this way in always opens one
        return outcome.session
    if isinstance(outcome, Refused):
        if outcome.reason == "app_password_for_admin_api":
            # App passwords are for the Registry's password path (ddb login) only.
            raise AdminError(401, "app passwords work only for Registry logins; use your password")
        raise AdminError(outcome.status, "invalid credentials" if outcome.status == 401 else "access denied")
    if isinstance(outcome, Throttled):
        raise AdminError(429, "too many failed attempts; try again later", retry_after=outcome.retry_after)
    raise outcome.error  # a 503
