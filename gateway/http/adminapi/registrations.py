"""``/admin/api/registrations``: self-registered accounts not yet admitted (waiting for their
address to be confirmed, ``unverified``, or for an admin, ``pending``); approve one
(``POST .../<username>/approve``) or reject it (``DELETE .../<username>``: the account is
deleted)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from gateway.admin.timefmt import iso
from gateway.http.adminapi.base import admin_only, bp, doc, ok, principal
from gateway.http.appservices import services
from providers.local.users import UserView


class RegistrationView(Schema):
    userName = fields.String(required=True)
    email = fields.String(allow_none=True)
    displayName = fields.String(allow_none=True)
    state = fields.String(required=True, metadata={"description": "unverified or pending"})
    createdAt = fields.String(required=True)


def shape(user: UserView) -> dict[str, Any]:
    return {
        "userName": user.username,
        "email": user.email,
        "displayName": user.display_name,
        "state": user.registration_state,
        "createdAt": iso(user.created_at),
    }


@bp.get("/registrations")
@doc("Self-registered accounts waiting to be admitted", response_schema=RegistrationView, many=True)
@admin_only
def list_registrations():
    return ok([shape(user) for user in services().registration().pending()])


@bp.post("/registrations/<username>/approve")
@doc(
    "Approve a registration waiting for an admin (the person is told by e-mail)",
    status=204,
    responses={404: "no registration of that name waits for approval"},
)
@admin_only
def approve_registration(username: str):
    services().registration().approve(principal().username, username)
    return "", 204


@bp.delete("/registrations/<username>")
@doc("Reject a registration: its account is deleted", status=204, responses={404: "no such registration"})
@admin_only
def reject_registration(username: str):
    services().registration().reject(principal().username, username)
    return "", 204
