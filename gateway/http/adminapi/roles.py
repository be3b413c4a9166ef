"""Role names, modelled on the Registry's ``GET|POST|DELETE /users/roles``.

``GET /users/roles`` answers an array of names like the Registry's; ``POST /users/roles`` takes
``roleName`` (and an optional ``description``); ``DELETE /users/roles/{name}`` takes
``?force=true`` to delete a role that rules still grant. ``GET /roles`` is the detailed list
(description, protected, which rules grant it). ``/users/roles`` is a static path, which
Flask prefers to ``/users/{username}``: a user named ``roles`` is reachable only through the
detailed user list.
"""

from __future__ import annotations

from typing import Any

from gateway.admin.roles import AdminRoles, RoleView
from gateway.admin.timefmt import iso
from gateway.http.adminapi import schemas_more as schemas
from gateway.http.adminapi.base import admin_only, body, bp, doc, ok, principal
from gateway.http.adminapi.queryargs import BOOL_SCHEMA, bool_arg
from gateway.http.appservices import services

_FORCE = {"force": {**BOOL_SCHEMA, "description": "delete even while rules grant it"}}


def _roles() -> AdminRoles:
    return services().admin_roles()


@bp.get("/users/roles")
@doc("Role names (the Registry's shape: an array of strings)", response_schema={"type": "string"}, many=True)
@admin_only
def list_role_names():
    return ok([role.name for role in _roles().list()])


@bp.post("/users/roles")
@doc(
    "Add a role name",
    request_schema=schemas.RoleCreate,
    response_schema=schemas.Role,
    status=201,
    responses={409: "the role exists"},
)
@admin_only
def create_role():
    data = body(schemas.RoleCreate())
    return ok(shape(_roles().create(principal().username, data["roleName"], data["description"])), 201)


@bp.delete("/users/roles/<name>")
@doc(
    "Delete a role name; warnings say what still grants it",
    response_schema=schemas.RoleDeleted,
    query=_FORCE,
    responses={404: "no such role", 409: "the admin role, or rules still grant it (use force=true)"},
)
@admin_only
def delete_role(name: str):
    warnings = _roles().delete(principal().username, name, force=bool_arg("force"))
    return ok({"deleted": name, "warnings": warnings})


@bp.get("/roles")
@doc(
    "Roles in detail: description, protected, the rules that grant each",
    response_schema=schemas.Role,
    many=True,
)
@admin_only
def list_roles():
    return ok([shape(role) for role in _roles().list()])


def shape(role: RoleView) -> dict[str, Any]:
    return {
        "name": role.name,
        "description": role.description,
        "protected": role.protected,
        "grantedBy": list(role.granted_by),
        "createdAt": iso(role.created_at),
    }
