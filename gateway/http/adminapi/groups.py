"""``/admin/api/groups``: local groups ("teams") and their members.

``GET|POST /groups``, ``GET|DELETE /groups/{name}``,
``PUT|DELETE /groups/{name}/members/{username}``. Refused with 409 when the gateway has no
local provider, or when the change would leave no enabled admin.
"""

from __future__ import annotations

from typing import Any

from gateway.admin.groups import AdminGroups, GroupView
from gateway.admin.timefmt import iso
from gateway.http.adminapi import schemas_more as schemas
from gateway.http.adminapi.base import admin_only, body, bp, doc, ok, principal
from gateway.http.appservices import services

_NO_LOCAL = "no local provider"


def _groups() -> AdminGroups:
    return services().admin_groups()


@bp.get("/groups")
@doc(
    "List local groups with their members",
    response_schema=schemas.Group,
    many=True,
    responses={409: _NO_LOCAL},
)
@admin_only
def list_groups():
    return ok([shape(group) for group in _groups().list()])


@bp.post("/groups")
@doc(
    "Create a local group",
    request_schema=schemas.GroupCreate,
    response_schema=schemas.Group,
    status=201,
    responses={409: "the name is taken, or no local provider"},
)
@admin_only
def create_group():
    data = body(schemas.GroupCreate())
    group = _groups().create(principal().username, data["name"], data["description"])
    return ok(shape(group), 201)


@bp.get("/groups/<name>")
@doc("One local group", response_schema=schemas.Group, responses={404: "no such group", 409: _NO_LOCAL})
@admin_only
def get_group(name: str):
    return ok(shape(_groups().get(name)))


@bp.delete("/groups/<name>")
@doc(
    "Delete a local group (its members stay)",
    status=204,
    responses={404: "no such group", 409: "it would leave no admin, or no local provider"},
)
@admin_only
def delete_group(name: str):
    _groups().delete(principal().username, name)
    return "", 204


@bp.put("/groups/<name>/members/<username>")
@doc(
    "Put a local user in the group",
    response_schema=schemas.Group,
    responses={404: "no such group or user", 409: "not a local user, or no local provider"},
)
@admin_only
def add_member(name: str, username: str):
    return ok(shape(_groups().add_member(principal().username, name, username)))


@bp.delete("/groups/<name>/members/<username>")
@doc(
    "Take a user out of the group",
    response_schema=schemas.Group,
    responses={404: "no such group, or not a member", 409: "it would leave no admin, or no local provider"},
)
@admin_only
def remove_member(name: str, username: str):
    return ok(shape(_groups().remove_member(principal().username, name, username)))


def shape(group: GroupView) -> dict[str, Any]:
    return {
        "name": group.name,
        "description": group.description,
        "members": list(group.members),
        "createdAt": iso(group.created_at),
    }
