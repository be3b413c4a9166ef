"""``POST /oidc/<provider>/backchannel-logout``: OpenID Connect Back-Channel Logout 1.0.

The IdP posts a form with one field, ``logout_token``, server to server: there is no browser,
so no cookie, no CSRF token and no Origin check apply, and everything in the request is hostile
until the token verifies (:mod:`gateway.admin.backchannel`). Answers as the spec says: 200
with an empty body when the logout was carried out, 400 with a short JSON error for a bad
request or token, and ``Cache-Control: no-store`` on every answer; a provider without
back-channel logout is a 404, an outage a 503.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from gateway.admin.backchannel import LogoutRefused
from gateway.http.appservices import services
from gateway.http.errors import json_error

bp = Blueprint("backchannel", __name__)

FORM_TYPE = "application/x-www-form-urlencoded"


@bp.post("/oidc/<provider_id>/backchannel-logout")
def backchannel_logout(provider_id: str) -> Response:
    if request.mimetype != FORM_TYPE:
        return json_error(400, "invalid_request", error_description=f"content type must be {FORM_TYPE}")
    tokens = request.form.getlist("logout_token")
    if len(tokens) > 1:
        return json_error(400, "invalid_request", error_description="logout_token given more than once")
    token = tokens[0] if tokens else None
    if token is not None and "\x00" in token:
        token = None
    try:
        services().backchannel_logouts().receive(provider_id, token, request.remote_addr or "")
    except LogoutRefused as refused:
        return json_error(refused.status, refused.error)
    response = Response(status=200)
    response.headers["Cache-Control"] = "no-store"
    return response
