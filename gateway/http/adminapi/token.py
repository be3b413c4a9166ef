"""``POST /api/token``: a bearer token for the admin API.

With ``username`` + ``password`` (form or JSON) it is a password login like the Registry's
(same throttle, same providers; app passwords refused) that opens a session; with no body, a
browser signed in to the gateway gets a token for its session. Either way the token is bound
to a session, so signing out, an admin's revocation or disabling the user ends it. Its audience
is the admin API's own: it is not a Registry login, and a Registry token is no admin token.
"""

from __future__ import annotations

import math
import time

from flask import Blueprint, request

from gateway.admin.errors import AdminError
from gateway.config.file import origin_of
from gateway.http.adminapi import schemas
from gateway.http.adminapi.base import body, doc, ok, principal_for, services
from gateway.http.browser import signed_in
from gateway.login.apppasswords import looks_like_app_password
from gateway.login.federation import Denied
from gateway.login.password import Throttled, password_login
from providers.base import ProviderUnavailable
from providers.sql import utcnow

token_bp = Blueprint("api_token", __name__)
PATH = "admin_token"


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
        if session is None or (origin is not None and origin.lower() != origin_of(svc.settings.public_url)):
            raise AdminError(401, "send username and password, or sign in first")
    else:
        data = body(schemas.TokenRequest())
        if looks_like_app_password(data["password"]):
            # App passwords are for the Registry's password path (ddb login) only: one must not
            # turn into a session that can create further secrets.
            raise AdminError(401, "app passwords work only for Registry logins; use your password")
        started = time.perf_counter()
        username = data["username"]

        def attempt(status: int, outcome: str, provider: str | None = None) -> None:
            svc.attempts.record(PATH, username, provider, status, outcome, started)

        try:
            identity = password_login(svc, username, data["password"])
        except Throttled as throttled:
            attempt(429, "throttled")
            raise AdminError(
                429,
                "too many failed attempts; try again later",
                retry_after=math.ceil(throttled.wait_seconds),
            ) from None
        except Denied as denied:
            svc.audit.record(
                "login", "denied", username=username[:127], path="api_token", reason=denied.reason
            )
            attempt(denied.status, denied.reason)
            raise AdminError(
                denied.status, "invalid credentials" if denied.status == 401 else "access denied"
            ) from None
        except ProviderUnavailable as outage:
            attempt(503, "unavailable", outage.provider_id)
            raise
        if svc.mapping.evaluate(identity).denied:
            attempt(403, "mapping_require_failed", identity.provider)
            raise AdminError(403, "access denied")
        attempt(200, "success", identity.provider)
        session = svc.sso.open_session(identity, "api_token")
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
