"""``POST /api/authenticate``: the endpoint the Registry's ExternalAuthUrl points at.

Exactly as the Registry calls it (contract §1): a form with ``username`` + ``password`` (the
password path) or ``token`` alone (the token path). A grant is 200 with the JSON object built
by :func:`gateway.login.answer.build_answer`; every refusal is a 4xx with a small JSON error; a
provider that cannot be reached is a 503 within the time budget.
"""

from __future__ import annotations

import math
import time

from flask import Blueprint, jsonify, request

from gateway.http.appservices import services
from gateway.http.errors import json_error
from gateway.login.answer import build_answer
from gateway.login.federation import Denied
from gateway.login.password import Throttled, registry_password_login
from gateway.observe.metrics import count_token
from gateway.services import Services
from gateway.storage.db import UNAVAILABLE_ERRORS
from gateway.storage.state import StoreUnavailable
from gateway.tokens import InvalidToken
from providers.base import Identity, ProviderUnavailable
from providers.oidc.provider import MAX_TOKEN_LENGTH, OidcRejected

bp = Blueprint("contract", __name__)

# Answered 503 by the app's error handlers; recorded here on the way out.
OUTAGES = (ProviderUnavailable, StoreUnavailable, *UNAVAILABLE_ERRORS)

FORM_TYPE = "application/x-www-form-urlencoded"
# As long as an IdP token may be: Entra ID tokens with many group claims pass 8 KiB. The 20 KiB
# body limit (gateway.app) leaves room for it.
MAX_TOKEN_CHARS = MAX_TOKEN_LENGTH
DENIED_MESSAGES = {401: "invalid credentials", 403: "access denied"}


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


@bp.post("/api/authenticate")
def authenticate():
    started = time.perf_counter()
    try:
        fields = _read_form()
    except BadRequest as bad:
        services().attempts.record("password", None, None, bad.status, "bad_request", started)
        return json_error(bad.status, bad.message)
    path = "token" if "token" in fields else "password"
    try:
        if path == "token":
            return _token_path(fields["token"], started)
        return _password_path(fields["username"], fields["password"], started)
    except OUTAGES as outage:
        services().attempts.record(
            path, fields.get("username"), getattr(outage, "provider_id", None), 503, "unavailable", started
        )
        raise


def _read_form() -> dict[str, str]:
    """The request's fields, checked for shape only; raises BadRequest."""
    if request.mimetype != FORM_TYPE:
        raise BadRequest(415, f"content type must be {FORM_TYPE}")
    form = request.form
    present: dict[str, str] = {}
    for name in ("username", "password", "token"):
        values = form.getlist(name)
        if len(values) > 1:
            raise BadRequest(400, f"field {name!r} given more than once")
        if values:
            present[name] = values[0]
    # A blank token is no token, as in the Registry itself (it takes the token path only for a
    # non-blank one): beside username and password it is the password path.
    has_token = bool(present.get("token", "").strip())
    has_password_fields = "username" in present or "password" in present
    if has_token and has_password_fields:
        raise BadRequest(400, "send either token, or username and password, not both")
    if has_token:
        return {"token": present["token"]}
    if "username" not in present or "password" not in present:
        raise BadRequest(400, "username and password (or token) are required")
    return {"username": present["username"], "password": present["password"]}


def _password_path(username: str, password: str, started: float):
    svc = services()
    provider_id = None
    try:
        try:
            identity, from_cache = registry_password_login(svc, username, password)
        except Throttled as throttled:
            svc.attempts.record("password", username, None, 429, "throttled", started)
            response = json_error(429, "too many failed attempts; try again later")
            response.headers["Retry-After"] = str(math.ceil(throttled.wait_seconds))
            return response
        provider_id = identity.provider
        return _grant(svc, identity, "password", started, audit=not from_cache)
    except Denied as denied:
        return _deny(svc, username, provider_id, denied, "password", started)


def _token_path(token: str, started: float):
    svc = services()
    username = "?"
    try:
        if len(token) > MAX_TOKEN_CHARS:
            raise Denied(401, "token_too_long")
        try:
            verified = svc.tokens.verify(token.strip())
        except InvalidToken as invalid:
            # Not ours by its typ (or not a JWT at all): an IdP's token, if any IdP takes them.
            if invalid.reason in ("bad_typ", "malformed") and svc.idp_tokens.enabled:
                identity = _idp_identity(svc, token.strip())
                count_token("idp", "valid")
                return _grant(svc, identity, "token", started)
            count_token("gateway", invalid.reason)
            raise Denied(401, f"token_{invalid.reason}") from None
        username = verified.username
        session = svc.sessions.get_active(verified.session_id)
        if session is None or session.username != verified.username:
            count_token("gateway", "session_ended")
            raise Denied(401, "session_ended")
        count_token("gateway", "valid")
        return _grant(svc, session.identity, "token", started)
    except Denied as denied:
        return _deny(svc, username, None, denied, "token", started)


def _idp_identity(svc: Services, token: str) -> Identity:
    try:
        identity = svc.idp_tokens.identity(token)
    except OidcRejected as rejected:
        count_token("idp", rejected.reason)
        raise Denied(403 if rejected.status == 403 else 401, f"idp_token_{rejected.reason}") from None
    return svc.federation.admit(identity)


def _grant(svc: Services, identity: Identity, path: str, started: float, *, audit: bool = False):
    """200 with the answer; ``audit``: a verified password login also gets an audit row (one
    answered from the cache is an attempt like any other, in the log and the metrics, but not a
    new sign-in: a map view would write hundreds of audit rows a second)."""
    evaluation = svc.mapping.evaluate(identity)
    if evaluation.denied:
        raise Denied(403, "mapping_require_failed")
    answer = build_answer(identity.username, evaluation)
    if audit:
        svc.audit.record(
            "login", "success", username=identity.username, provider=identity.provider, path=path
        )
    svc.attempts.record(path, identity.username, identity.provider, 200, "success", started)
    response = jsonify(answer)
    response.headers["Cache-Control"] = "no-store"
    return response


def _deny(svc: Services, username: str, provider_id: str | None, denied: Denied, path: str, started: float):
    svc.audit.record(
        "login", "denied", username=username, provider=provider_id, path=path, reason=denied.reason
    )
    svc.attempts.record(path, username, provider_id, denied.status, denied.reason, started)
    return json_error(denied.status, DENIED_MESSAGES.get(denied.status, "denied"))
