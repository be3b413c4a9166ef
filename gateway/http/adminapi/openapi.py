"""The OpenAPI 3 document of the admin API, built by apispec from the routes' ``@doc`` metadata
and their marshmallow schemas, served at ``/admin/api/openapi.json``."""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, current_app

from gateway.http.adminapi import schemas
from gateway.http.adminapi.base import bp, ok

_PARAM = re.compile(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>")
_ERROR_STATUSES = {
    400: "invalid input",
    401: "not authenticated",
    403: "not an admin",
    503: "a backend is unavailable",
}


def build_spec(app: Flask) -> dict[str, Any]:
    """The document for every documented route of ``app``."""
    spec = APISpec(
        title="DroneDB auth gateway: admin API",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Users, groups, roles, mapping rules, sessions and audit. "
            "Authenticate with a bearer token from POST /api/token "
            "or a personal API key."
        },
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=schemas.Error)
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        meta = getattr(app.view_functions.get(rule.endpoint), "openapi", None)
        if meta is None:
            continue
        path = _PARAM.sub(r"{\1}", rule.rule)
        if rule.methods is None:  # werkzeug's "any method"; Flask always lists a route's methods
            raise RuntimeError(f"route {rule.rule} does not list its methods")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(rule, meta)
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation(rule, meta: dict[str, Any]) -> dict[str, Any]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 127},
        }
        for name in _PARAM.findall(rule.rule)
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in meta["query"].items()
    ]
    operation: dict[str, Any] = {
        "summary": meta["summary"],
        "operationId": rule.endpoint.replace(".", "_"),
        "parameters": parameters,
        "responses": {},
    }
    if meta["request"] is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": meta["request"]}},
        }
    status = str(meta["status"])
    if meta["response"] is None:
        operation["responses"][status] = {"description": "done"}
    else:
        schema = meta["response"]
        content = {"type": "array", "items": schema} if meta["many"] else schema
        operation["responses"][status] = {
            "description": "ok",
            "content": {"application/json": {"schema": content}},
        }
    errors = dict(_ERROR_STATUSES)
    if not meta["admin"]:
        errors.pop(403)
    if meta["request"] is not None:
        errors.update({413: "the body is too large", 415: "send JSON or a form"})
    errors.update(meta["responses"])
    for code, description in errors.items():
        operation["responses"][str(code)] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    if rule.rule != "/api/token":
        operation["security"] = [{"bearer": []}]
    return operation


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI document (no authentication: it describes, it reveals no data)."""
    document = current_app.extensions.get("gateway_openapi")
    if document is None:
        document = current_app.extensions["gateway_openapi"] = build_spec(current_app)
    return ok(document)
