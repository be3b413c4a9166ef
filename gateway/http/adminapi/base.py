"""What every admin API route shares: the blueprint, who is calling, reading bodies, errors,
and the ``@doc`` metadata the OpenAPI document is built from.

Authentication is by ``Authorization: Bearer`` only: a token from ``POST /api/token`` (bound
to a session, so revocable) or a personal API key (``gwak_…``). Cookies are never read here, so
no other site can make a browser call the API: there is nothing for CSRF to ride on.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, g, jsonify, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException

from gateway.admin.errors import AdminError
from gateway.http.appservices import services
from gateway.http.errors import json_error, unavailable
from gateway.login.apppasswords import API_KEY_PREFIX
from gateway.login.federation import Denied
from gateway.mapping import Evaluation
from gateway.storage.db import UNAVAILABLE_ERRORS
from gateway.storage.state import StoreUnavailable
from gateway.tokens import InvalidToken
from providers.base import Identity, ProviderUnavailable
from providers.strictjson import HostileJson, parse_json

log = logging.getLogger(__name__)
bp = Blueprint("admin_api", __name__, url_prefix="/admin/api")
MAX_CREDENTIAL_CHARS = 8192
# A mapping policy with many rules is larger than the contract endpoint's 20 KiB limit.
MAX_ADMIN_BODY_BYTES = 256 * 1024


@dataclass(frozen=True)
class Principal:
    """Who is calling: their identity, what the mapping gives them, and how they came in."""

    username: str
    identity: Identity
    evaluation: Evaluation | None
    is_admin: bool
    session_id: str | None
    via: str  # "token" or "api_key"


def principal() -> Principal:
    """The authenticated caller (401 when there is none)."""
    found = g.get("principal")
    if found is None:
        found = g.principal = _authenticate()
    return found


def require_admin() -> Principal:
    """The caller, who must hold the admin role (403 otherwise)."""
    caller = principal()
    if not caller.is_admin:
        raise AdminError(403, "this needs the admin role")
    return caller


def admin_only(view: Callable) -> Callable:
    """Decorator: the route needs an admin caller."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        require_admin()
        return view(*args, **kwargs)

    return wrapped


def signed_in(view: Callable) -> Callable:
    """Decorator: the route needs any authenticated caller."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        principal()
        return view(*args, **kwargs)

    return wrapped


def principal_for(identity: Identity, session_id: str | None, via: str) -> Principal:
    """A principal for ``identity``. A local user's identity is read fresh, so a demotion or a
    disable takes effect on the very next call."""
    svc = services()
    people = svc.people()
    person = people.get(identity.username)
    if person is None or not person.enabled:
        raise AdminError(401, "authentication required")
    if person.local is not None and person.identity is not None:
        identity = person.identity
    evaluation = svc.mapping.evaluate(identity)
    return Principal(identity.username, identity, evaluation, people.is_admin(evaluation), session_id, via)


def _authenticate() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential or len(credential) > MAX_CREDENTIAL_CHARS:
        raise AdminError(401, "authentication required")
    svc = services()
    if credential.startswith(API_KEY_PREFIX):
        key = svc.api_keys.find(credential)
        if key is None:
            raise AdminError(401, "authentication required")
        owner = svc.accounts.owner_of(key.username)
        try:
            # Asked fresh (LDAP lookup; an IdP's recent login): a key outlives no directory change.
            identity = svc.federation.current_identity(owner) if owner is not None else None
        except Denied:
            identity = None
        if identity is None:
            raise AdminError(401, "authentication required")
        principal = principal_for(identity, None, "api_key")
        svc.api_keys.touch(key)  # a use is recorded only once the key has been accepted
        return principal
    try:
        verified = svc.admin_tokens.verify(credential)
    except InvalidToken:
        raise AdminError(401, "authentication required") from None
    session = svc.sessions.get_active(verified.session_id)
    if (
        session is None
        or session.username != verified.username
        or not svc.federation.in_force(session.provider)
    ):
        raise AdminError(401, "authentication required")
    return principal_for(session.identity, session.id, "token")


# -- bodies ----------------------------------------------------------------------------------


def body(schema: Schema, *, partial: bool = False) -> dict[str, Any]:
    """The request's JSON object or form fields, loaded by ``schema`` (400 naming the field)."""
    if request.mimetype == "application/json":
        data = _json_object()
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        data = {}
        for key in request.form:
            values = request.form.getlist(key)
            list_field = getattr(schema.fields.get(key), "inner", None) is not None
            data[key] = values if list_field else values[-1]
    elif not request.get_data(cache=True):
        data = {}
    else:
        raise AdminError(415, "send JSON (application/json) or a form")
    _refuse_nul(data, "")
    return schema.load(data, partial=partial)


def _refuse_nul(value: Any, where: str) -> None:
    """400 naming the field for a NUL character anywhere in the body (PostgreSQL refuses it
    in text; no person types one)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise AdminError(400, f"{where or 'body'}: NUL characters are not allowed", where or None)
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(key, where or str(key))
            _refuse_nul(item, where or str(key))
    elif isinstance(value, list):
        for item in value:
            _refuse_nul(item, where)


def json_object() -> dict[str, Any]:
    """The request's body as a JSON object (400 otherwise)."""
    if request.mimetype != "application/json":
        raise AdminError(400, "the body must be a JSON object")
    data = _json_object()
    _refuse_nul(data, "")
    return data


def _json_object() -> dict[str, Any]:
    """The request's JSON body, read only by the bounded parser: a 400 that names the problem
    for hostile JSON (too deep, duplicate keys, huge numbers, not UTF-8, ...) or a non-object."""
    try:
        data = parse_json(request.get_data(cache=True), max_bytes=MAX_ADMIN_BODY_BYTES)
    except HostileJson as hostile:
        raise AdminError(400, str(hostile)) from None
    if not isinstance(data, dict):
        raise AdminError(400, "the body must be a JSON object")
    return data


def doc(
    summary: str,
    *,
    request_schema: Schema | type | None = None,
    response_schema: Schema | type | dict[str, Any] | None = None,
    status: int = 200,
    many: bool = False,
    query: dict[str, dict[str, Any]] | None = None,
    admin: bool = True,
    responses: dict[int, str] | None = None,
) -> Callable:
    """Describe a route for the OpenAPI document (see :mod:`gateway.http.adminapi.openapi`)."""

    def attach(view: Callable) -> Callable:
        view.__dict__["openapi"] = {
            "summary": summary,
            "request": request_schema,
            "response": response_schema,
            "status": status,
            "many": many,
            "query": query or {},
            "admin": admin,
            "responses": responses or {},
        }
        return view

    return attach


# -- errors ----------------------------------------------------------------------------------


def _admin_error(error: AdminError):
    extra = {"field": error.field} if error.field else {}
    response = json_error(error.status, error.message, **extra)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="gateway-admin"'
    if error.retry_after:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _invalid(error: ValidationError):
    messages = error.normalized_messages()
    field = next(iter(messages), None) if isinstance(messages, dict) else None
    first = messages.get(field) if field else messages
    while isinstance(first, (list, dict)) and first:
        first = first[0] if isinstance(first, list) else next(iter(first.values()))
    text = f"{field}: {first}" if field and field != "_schema" else str(first)
    return json_error(400, text, field=field, fields=messages)


def _http(error: HTTPException):
    return json_error(error.code or 500, (error.name or "error").lower())


def _outage(error: Exception):
    return unavailable(f"admin api: {type(error).__name__}")


def _headers(response):
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def install_error_handlers(blueprint: Blueprint) -> None:
    """JSON errors for everything a route of ``blueprint`` can raise; 503 for outages."""
    blueprint.register_error_handler(AdminError, _admin_error)
    blueprint.register_error_handler(ValidationError, _invalid)
    blueprint.register_error_handler(HTTPException, _http)
    for outage in (StoreUnavailable, ProviderUnavailable, *UNAVAILABLE_ERRORS):
        blueprint.register_error_handler(outage, _outage)
    blueprint.after_request(_headers)


install_error_handlers(bp)


@bp.before_request
def _body_limit():
    request.max_content_length = MAX_ADMIN_BODY_BYTES


def ok(data: Any, status: int = 200):
    response = jsonify(data)
    response.status_code = status
    return response
