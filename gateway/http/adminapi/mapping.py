"""``/admin/api/mapping``: the mapping policy, whole or rule by rule, its dry run and
explanations. Admins only.

Every write answers with the new state (``{source, editable, version, updatedAt, updatedBy,
document}``) and its version as ``ETag``. A write may name the version it is based on, as
``expectedVersion`` in the body (``?expectedVersion=`` for DELETE) or as ``If-Match``; a stale
one is refused with 409, as is any write while the policy comes from the config file. A
write that lowers some user's quota below the storage they already use is refused with 409
naming them unless it carries ``confirmQuotaShrink: true`` (``?confirmQuotaShrink=true`` for
DELETE).
"""

from __future__ import annotations

from typing import Any

from flask import request

from gateway.admin.errors import AdminError
from gateway.admin.mapping import MappingAdmin
from gateway.http.adminapi import schemas_mapping as shapes
from gateway.http.adminapi.base import admin_only, body, bp, doc, ok, principal
from gateway.http.adminapi.queryargs import bool_arg
from gateway.http.appservices import services

_WRITE_ERRORS = {
    404: "no such rule",
    409: "read-only (config file), a stale version, no admin would remain, or an unconfirmed quota shrink",
}
_SAVE_ERRORS = {
    409: "read-only (config file), a stale version, no admin would remain, or an unconfirmed quota shrink"
}
_DELETE_QUERY: dict[str, dict[str, Any]] = {
    "expectedVersion": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    "confirmQuotaShrink": {"type": "boolean"},
}


def _admin() -> MappingAdmin:
    return services().mapping_admin()


@bp.get("/mapping")
@doc(
    "The mapping policy in force, where it lives and its version (also as ETag)",
    response_schema=shapes.MappingState,
)
@admin_only
def get_mapping():
    return _state(_admin().current())


@bp.put("/mapping")
@doc(
    "Replace the whole mapping policy: {document, expectedVersion?}",
    request_schema=shapes.MappingUpdate,
    response_schema=shapes.MappingState,
    responses=_SAVE_ERRORS,
)
@admin_only
def put_mapping():
    data = body(shapes.MappingUpdate())
    return _state(
        _admin().save(
            principal().username,
            data["document"],
            _expected(data),
            confirm_quota_shrink=data["confirmQuotaShrink"],
        )
    )


@bp.post("/mapping/rules")
@doc(
    "Add a rule at a position (default: last)",
    request_schema=shapes.RuleCreate,
    response_schema=shapes.MappingState,
    status=201,
    responses=_SAVE_ERRORS,
)
@admin_only
def add_rule():
    data = body(shapes.RuleCreate())
    return _state(
        _admin().add_rule(
            principal().username,
            data["rule"],
            data.get("position"),
            _expected(data),
            confirm_quota_shrink=data["confirmQuotaShrink"],
        ),
        201,
    )


@bp.put("/mapping/rules/<name>")
@doc(
    "Replace (or rename) one rule",
    request_schema=shapes.RuleReplace,
    response_schema=shapes.MappingState,
    responses=_WRITE_ERRORS,
)
@admin_only
def replace_rule(name: str):
    data = body(shapes.RuleReplace())
    return _state(
        _admin().replace_rule(
            principal().username,
            name,
            data["rule"],
            _expected(data),
            confirm_quota_shrink=data["confirmQuotaShrink"],
        )
    )


@bp.delete("/mapping/rules/<name>")
@doc("Delete one rule", response_schema=shapes.MappingState, query=_DELETE_QUERY, responses=_WRITE_ERRORS)
@admin_only
def delete_rule(name: str):
    query = request.args.get("expectedVersion")
    expected = None
    if query is not None:
        if not (query.isascii() and query.isdigit()) or int(query) > 2**31 - 1:
            raise AdminError(400, "expectedVersion: must be a version number", "expectedVersion")
        expected = int(query)
    return _state(
        _admin().delete_rule(
            principal().username,
            name,
            _expected({"expectedVersion": expected}),
            confirm_quota_shrink=bool_arg("confirmQuotaShrink"),
        )
    )


@bp.post("/mapping/rules/<name>/move")
@doc(
    "Move one rule to another position",
    request_schema=shapes.RuleMove,
    response_schema=shapes.MappingState,
    responses=_WRITE_ERRORS,
)
@admin_only
def move_rule(name: str):
    data = body(shapes.RuleMove())
    return _state(
        _admin().move_rule(
            principal().username,
            name,
            data["position"],
            _expected(data),
            confirm_quota_shrink=data["confirmQuotaShrink"],
        )
    )


@bp.post("/mapping/dry-run")
@doc(
    "What a candidate policy would change for every known user; nothing is saved",
    request_schema=shapes.DryRunRequest,
    response_schema=shapes.DryRunResult,
)
@admin_only
def dry_run():
    data = body(shapes.DryRunRequest())
    return ok(_admin().dry_run(data["document"]))


@bp.post("/mapping/explain")
@doc(
    "Explain a known user ({userName}) or a hypothetical identity ({provider, userName, "
    "groups, attributes, email, displayName}) under the policy in force",
    request_schema=shapes.ExplainRequest,
    response_schema=shapes.Explanation,
    responses={404: "no such user"},
)
@admin_only
def explain():
    data = body(shapes.ExplainRequest())
    admin = _admin()
    hypothetical = {"groups", "attributes", "email", "displayName"} & data.keys()
    if "provider" not in data:
        if hypothetical:
            given = ", ".join(sorted(hypothetical))
            raise AdminError(
                400, f"provider: a hypothetical identity ({given} given) needs its provider", "provider"
            )
        return ok(admin.explain_user(data["userName"]))
    return ok(
        admin.explain_identity(
            data["provider"],
            data["userName"],
            data.get("groups", ()),
            data.get("attributes"),
            data.get("email"),
            data.get("displayName"),
        )
    )


@bp.get("/mapping/explain/<username>")
@doc(
    "Explain a known user under the policy in force",
    response_schema=shapes.Explanation,
    responses={404: "no such user"},
)
@admin_only
def explain_user(username: str):
    return ok(_admin().explain_user(username))


# -- helpers -----------------------------------------------------------------------------------


def _expected(data: dict[str, Any]) -> int | None:
    """The version a write is based on, from the body or ``If-Match`` (both: they must agree)."""
    from_body = data.get("expectedVersion")
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return from_body
    text = header.strip().removeprefix("W/").strip('"')
    if not (text.isascii() and text.isdigit()) or int(text) > 2**31 - 1:
        raise AdminError(400, 'If-Match: must be a policy version, e.g. "3"', "If-Match")
    if from_body is not None and from_body != int(text):
        raise AdminError(400, "expectedVersion and If-Match name different versions", "expectedVersion")
    return int(text)


def _state(state: dict[str, Any], status: int = 200):
    response = ok(state, status)
    response.headers["ETag"] = f'"{state["version"]}"'
    return response
