"""``/admin/api/providers``: how each identity provider is doing, and a trial LDAP login.

``GET /providers`` checks every provider at once (bounded by their own timeouts);
``POST /providers/{id}/test-login`` (``username``, ``password``) walks an LDAP login step by
step like ``gateway ldap test``, throttled like a real login of that account.
``GET /registry`` is the Registry link: health, and the outbox (pending, failed with the
Registry's error, the age of the oldest).
"""

from __future__ import annotations

from gateway.admin.errors import AdminError
from gateway.http.adminapi import schemas_more as schemas
from gateway.http.adminapi.base import admin_only, body, bp, doc, ok, principal
from gateway.http.appservices import services


@bp.get("/providers")
@doc("Each identity provider: healthy or not, and why", response_schema=schemas.ProviderStatus, many=True)
@admin_only
def provider_status():
    return ok(services().provider_admin().status())


@bp.post("/providers/<provider_id>/test-login")
@doc(
    "Try a login at an LDAP provider, step by step (nothing is recorded but the audit)",
    request_schema=schemas.TrialLogin,
    response_schema=schemas.TrialResult,
    responses={
        400: "not an LDAP provider, or invalid input",
        404: "no such provider",
        429: "the account is throttled",
    },
)
@admin_only
def test_login(provider_id: str):
    data = body(schemas.TrialLogin())
    return ok(
        services()
        .provider_admin()
        .test_login(provider_id, data["username"], data["password"], actor=principal().username)
    )


@bp.post("/providers/diagnose")
@doc(
    "Check a provider configuration, saved or not: reach its servers, try a user search, show a "
    "user's groups with the mapping's answer, or check an IdP's discovery (nothing is recorded "
    "but the audit; a failing backend is a result, not an error)",
    request_schema=schemas.Diagnose,
    response_schema=schemas.DiagnosticResult,
    responses={
        400: "invalid input, or an action the provider type does not offer",
        404: "no such saved provider",
        429: "too many diagnostics in a minute",
    },
)
@admin_only
def diagnose():
    data = body(schemas.Diagnose())
    if ("provider" in data) == ("id" in data):
        raise AdminError(400, 'give either provider (a configuration or {"id": ...}) or id', "provider")
    provider = data["provider"] if "provider" in data else {"id": data["id"]}
    return ok(
        services()
        .provider_diagnostics()
        .diagnose(provider, data["action"], data.get("username"), actor=principal().username)
    )


@bp.get("/registry")
@doc(
    "The Registry link: the Registry's health and the outbox of writes to it",
    response_schema=schemas.RegistryStatus,
)
@admin_only
def registry_status():
    return ok(services().registry.report())
