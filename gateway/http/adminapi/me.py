"""``/admin/api/me``: self-service for any signed-in person.

``GET /me`` says what the Registry receives for the caller (roles, quota, the exact answer);
``GET|POST /me/app-passwords`` and ``DELETE /me/app-passwords/{id}`` manage their app
passwords for ``ddb login``; ``/me/api-keys`` the same for personal API keys. A new secret
is shown once, in the 201 answer, and is made only for a caller signed in with a session
token (see :mod:`gateway.admin.selfservice`). Changing one's own password is
``POST /users/changepwd``.
"""

from __future__ import annotations

from typing import Any

from gateway.admin.selfservice import API_KEYS, APP_PASSWORDS, Kind, summary
from gateway.admin.timefmt import iso
from gateway.http.adminapi import schemas_more as schemas
from gateway.http.adminapi.base import body, bp, doc, ok, principal, signed_in
from gateway.http.appservices import services
from gateway.login.apppasswords import AppPasswordView
from providers.sql import utcnow

_CREATE_REFUSALS = {403: "an API key cannot create secrets; use a session token"}


@bp.get("/me")
@doc("What the Registry receives for you", response_schema=schemas.Me, admin=False)
@signed_in
def me():
    caller = principal()
    person = services().people().get(caller.username)
    provider = person.provider if person is not None else caller.identity.provider
    return ok(summary(caller.username, provider, caller.evaluation, caller.is_admin))


def _secret_routes(path: str, kind: Kind, noun: str) -> None:
    """GET/POST ``path`` and DELETE ``path/{id}`` for one kind of personal secret."""
    endpoint = kind.store

    @doc(
        f"Your {noun}s (not revoked; expired ones included)",
        response_schema=schemas.Secret,
        many=True,
        admin=False,
    )
    @signed_in
    def list_secrets():
        views = services().own_secrets(kind).list(principal().username)
        now = utcnow()
        return ok([shape(view, now) for view in views])

    @doc(
        f"Create an {noun}; the secret is in this answer only",
        admin=False,
        request_schema=schemas.SecretCreate,
        response_schema=schemas.SecretCreated,
        status=201,
        responses=_CREATE_REFUSALS,
    )
    @signed_in
    def create_secret():
        data = body(schemas.SecretCreate())
        caller = principal()
        view, secret = (
            services()
            .own_secrets(kind)
            .create(caller.username, data["name"], data["expiresDays"], via=caller.via)
        )
        return ok({**shape(view, utcnow()), "secret": secret}, 201)

    @doc(f"Revoke one of your {noun}s", status=204, admin=False, responses={404: f"no such {noun}"})
    @signed_in
    def revoke_secret(public_id: str):
        services().own_secrets(kind).revoke(principal().username, public_id)
        return "", 204

    bp.add_url_rule(path, f"list_{endpoint}", list_secrets, methods=["GET"])
    bp.add_url_rule(path, f"create_{endpoint}", create_secret, methods=["POST"])
    bp.add_url_rule(f"{path}/<public_id>", f"revoke_{endpoint}", revoke_secret, methods=["DELETE"])


def shape(view: AppPasswordView, now) -> dict[str, Any]:
    return {
        "id": view.id,
        "name": view.name,
        "createdAt": iso(view.created_at),
        "expiresAt": iso(view.expires_at),
        "lastUsedAt": iso(view.last_used_at),
        "expired": view.expired(now),
    }


_secret_routes("/me/app-passwords", APP_PASSWORDS, "app password")
_secret_routes("/me/api-keys", API_KEYS, "API key")
