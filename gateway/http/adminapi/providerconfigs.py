"""``/admin/api/providers``: the providers kept in the database (``provider_source: database``).

``GET /providers/configured`` lists every provider with its settings (secrets as "(set)");
``POST /providers`` adds one; ``GET``/``PUT``/``DELETE /providers/{id}`` read, change and
remove one; ``POST /providers/{id}/move`` orders, ``/enable`` and ``/disable`` switch it. In
``file`` mode every change is a 409. ``GET /providers`` stays the health of each provider.
"""

from __future__ import annotations

from gateway.admin.providerconfigs import ProviderConfigs, ProviderInvalid
from gateway.http.adminapi import schemas_providers as schemas
from gateway.http.adminapi.base import admin_only, body, bp, doc, ok, principal
from gateway.http.appservices import services
from gateway.http.errors import json_error

_CHANGES = {400: "invalid settings (every problem, by field)", 409: "file mode, or the id is taken"}
_ONE = {404: "no such provider", 409: "file mode, or a provider of the config file"}


def _configs() -> ProviderConfigs:
    return services().provider_configs()


@bp.errorhandler(ProviderInvalid)
def _invalid(error: ProviderInvalid):
    return json_error(400, error.message, field=error.field, fields=error.errors)


@bp.get("/providers/configured")
@doc(
    'Every provider with its settings (secrets as "(set)"), the config file\'s first',
    response_schema=schemas.ProviderConfigList,
)
@admin_only
def list_configured():
    return ok(_configs().list())


@bp.post("/providers")
@doc(
    "Add an LDAP/AD or OIDC provider (provider_source: database)",
    request_schema=schemas.ProviderCreate,
    response_schema=schemas.ProviderConfig,
    status=201,
    responses=_CHANGES,
)
@admin_only
def create_provider():
    data = body(schemas.ProviderCreate())
    created = _configs().create(
        principal().username,
        data["id"],
        data["type"],
        data["settings"],
        enabled=data["enabled"],
        position=data["position"],
    )
    return ok(created, 201)


@bp.get("/providers/<provider_id>")
@doc(
    'One provider and its settings (secrets as "(set)")',
    response_schema=schemas.ProviderConfig,
    responses={404: "no such provider"},
)
@admin_only
def get_provider(provider_id: str):
    return ok(_configs().get(provider_id))


@bp.put("/providers/<provider_id>")
@doc(
    "Replace a provider's settings; secrets left out are kept",
    request_schema=schemas.ProviderUpdate,
    response_schema=schemas.ProviderConfig,
    responses={**_ONE, 400: "invalid settings (every problem, by field)"},
)
@admin_only
def update_provider(provider_id: str):
    data = body(schemas.ProviderUpdate())
    return ok(_configs().update(principal().username, provider_id, data["settings"], enabled=data["enabled"]))


@bp.delete("/providers/<provider_id>")
@doc("Remove a provider", status=204, responses=_ONE)
@admin_only
def delete_provider(provider_id: str):
    _configs().delete(principal().username, provider_id)
    return "", 204


@bp.post("/providers/<provider_id>/move")
@doc(
    "Put a provider at a position of the order",
    request_schema=schemas.ProviderMove,
    response_schema=schemas.ProviderConfig,
    responses=_ONE,
)
@admin_only
def move_provider(provider_id: str):
    data = body(schemas.ProviderMove())
    return ok(_configs().move(principal().username, provider_id, data["position"]))


@bp.post("/providers/<provider_id>/enable")
@doc("Enable a provider", response_schema=schemas.ProviderConfig, responses=_ONE)
@admin_only
def enable_provider(provider_id: str):
    return ok(_configs().set_enabled(principal().username, provider_id, True))


@bp.post("/providers/<provider_id>/disable")
@doc("Disable a provider (kept, asked by no login)", response_schema=schemas.ProviderConfig, responses=_ONE)
@admin_only
def disable_provider(provider_id: str):
    return ok(_configs().set_enabled(principal().username, provider_id, False))
