"""``POST /api/authenticate``: the endpoint the Registry's ExternalAuthUrl points at.

Exactly as the Registry calls it (contract §1): a form with ``username`` + ``password`` (the
password path) or ``token`` alone (the token path). A grant is 200 with the JSON object built
by :func:`gateway.login.answer.build_answer`; every refusal is a 4xx with a small JSON error; a
provider that cannot be reached is a 503 within the time budget. The login itself, and its
records, are :class:`gateway.login.service.LoginService`'s; this module only speaks HTTP.
"""

from __future__ import annotations

import json
import time

from flask import Blueprint, Response, current_app, request

from gateway.http.appservices import services
from gateway.http.clientinfo import current_client
from gateway.http.errors import json_error
from gateway.login.answer import build_answer
from gateway.login.outcome import Granted, Outcome, Refused, Throttled
from gateway.login.refusals import SECOND_FACTOR_ENROL_FIRST, SECOND_FACTOR_USE_APP_PASSWORD
from gateway.login.service import LoginService
from providers.base import MAX_TOKEN_LENGTH

bp = Blueprint("contract", __name__)

FORM_TYPE = "application/x-www-form-urlencoded"
# As long as an IdP token may be: Entra ID tokens with many group claims pass 8 KiB. The 20 KiB
# body limit (gateway.app) leaves room for it.
MAX_TOKEN_CHARS = MAX_TOKEN_LENGTH
DENIED_MESSAGES = {401: "invalid credentials", 403: "access denied"}
# An account with a second factor signing in with its own password: the Registry cannot ask
# for the second factor, so it is told what works instead (never which factor it has).
SECOND_FACTOR_MESSAGE = (
    "this account uses two-step sign-in: use an app password (create one on the gateway's "
    "account page) instead of your account password"
)
ENROL_FIRST_MESSAGE = (
    "this account must set up two-step sign-in first: sign in to the gateway in a browser to set "
    "it up, then use an app password (create one on the gateway's account page) for ddb and GIS "
    "clients instead of your account password"
)
MUST_CHANGE_PASSWORD = "password change required: sign in with a browser and choose a new password"
# The grant's JSON exactly as Flask's jsonify writes it outside debug mode (compact, ASCII,
# keys in the answer's order), from one encoder made once: jsonify builds a new one per call,
# a measurable share of a token-path request. build_answer checks every value's type.
_encode_answer = json.JSONEncoder(separators=(",", ":")).encode


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


@bp.post("/api/authenticate")
def authenticate() -> Response:
    started = time.perf_counter()
    login: LoginService = services().login
    try:
        fields = _read_form()
    except BadRequest as bad:
        login.malformed(None, bad.status, started)
        return json_error(bad.status, bad.message)
    if "token" in fields:
        return _answer(login.registry_token(fields["token"], started, current_client()))
    return _answer(login.registry_password(fields["username"], fields["password"], started, current_client()))


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


def _answer(outcome: Outcome) -> Response:
    """The Registry's HTTP answer for a login's outcome."""
    if isinstance(outcome, Granted):
        answer = _encode_answer(build_answer(outcome.identity.username, outcome.evaluation))
        response = current_app.response_class(answer + "\n", mimetype="application/json")
        response.headers["Cache-Control"] = "no-store"
        return response
    if isinstance(outcome, Refused):
        if outcome.reason == SECOND_FACTOR_USE_APP_PASSWORD:
            return json_error(403, SECOND_FACTOR_MESSAGE)
        if outcome.reason == SECOND_FACTOR_ENROL_FIRST:
            return json_error(403, ENROL_FIRST_MESSAGE)
        if outcome.reason == "must_change_password":
            return json_error(403, MUST_CHANGE_PASSWORD)
        return json_error(outcome.status, DENIED_MESSAGES.get(outcome.status, "denied"))
    if isinstance(outcome, Throttled):
        response = json_error(429, "too many failed attempts; try again later")
        response.headers["Retry-After"] = str(outcome.retry_after)
        return response
    raise outcome.error  # answered 503 by the app's error handlers
