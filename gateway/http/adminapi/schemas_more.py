"""Request and response shapes of the groups, roles, sessions, audit, providers and ``/me``
resources (marshmallow; also their OpenAPI components)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from gateway.http.adminapi.schemas import Strict

_DESCRIPTION = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))


# -- groups ------------------------------------------------------------------------------------


class GroupCreate(Strict):
    name = fields.String(
        required=True,
        validate=validate.Length(1, 64),
        metadata={"description": "1-64 of letters, digits and _ . @ + -"},
    )
    description = _DESCRIPTION


class Group(Schema):
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    members = fields.List(fields.String(), required=True)
    createdAt = fields.DateTime(allow_none=True)


# -- roles -------------------------------------------------------------------------------------


class RoleCreate(Strict):
    roleName = fields.String(required=True, validate=validate.Length(1, 64))
    description = _DESCRIPTION


class Role(Schema):
    name = fields.String(required=True)
    description = fields.String(allow_none=True)
    protected = fields.Boolean(required=True, metadata={"description": "the admin role: cannot be deleted"})
    grantedBy = fields.List(
        fields.String(),
        required=True,
        metadata={
            "description": 'rules of the policy in force that grant it ("default_roles": granted to everyone)'
        },
    )
    createdAt = fields.DateTime(allow_none=True, metadata={"description": "null: only the policy names it"})


class RoleDeleted(Schema):
    deleted = fields.String(required=True)
    warnings = fields.List(fields.String(), required=True)


# -- sessions ----------------------------------------------------------------------------------


class Session(Schema):
    id = fields.String(required=True, metadata={"description": "the session's handle"})
    username = fields.String(required=True)
    provider = fields.String(required=True)
    createdAt = fields.DateTime(required=True)
    expiresAt = fields.DateTime(required=True)
    revokedAt = fields.DateTime(allow_none=True)
    active = fields.Boolean(required=True)
    current = fields.Boolean(required=True, metadata={"description": "the caller's own session"})


class SessionPage(Schema):
    items = fields.List(fields.Nested(Session), required=True)
    total = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    limit = fields.Integer(required=True)


class Revoked(Schema):
    revoked = fields.Integer(required=True, metadata={"description": "how many sessions ended"})


# -- audit -------------------------------------------------------------------------------------


class AuditEvent(Schema):
    id = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    event = fields.String(required=True)
    outcome = fields.String(required=True)
    username = fields.String(allow_none=True)
    provider = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    detail = fields.Dict(required=True)


class AuditPage(Schema):
    items = fields.List(fields.Nested(AuditEvent), required=True)
    total = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    limit = fields.Integer(required=True)


# -- providers ---------------------------------------------------------------------------------


class ProviderStatus(Schema):
    id = fields.String(required=True)
    type = fields.String(required=True)
    healthy = fields.Boolean(required=True)
    detail = fields.String(required=True)
    checkedMs = fields.Integer(required=True, metadata={"description": "how long the check took"})
    backchannelLogoutUri = fields.String(
        metadata={
            "description": "the back-channel logout URI to register at the IdP; only for an oidc "
            "provider with backchannel_logout.enabled"
        }
    )


class RegistryHealthState(Schema):
    status = fields.String(required=True, metadata={"description": "ok or degraded"})
    reason = fields.String(required=True)


class RegistryStatus(Schema):
    enabled = fields.Boolean(required=True, metadata={"description": "false without a registry: section"})
    url = fields.String(allow_none=True)
    serviceAccount = fields.String()
    onDelete = fields.String(metadata={"description": "deactivate or delete"})
    health = fields.Nested(RegistryHealthState, allow_none=True)
    outbox = fields.Dict(
        allow_none=True,
        metadata={
            "description": "pending, retrying, failed, dropped, oldestPendingAgeSeconds, "
            "lastRetryError, failedWrites (each with the Registry's error)"
        },
    )


class TrialLogin(Strict):
    username = fields.String(required=True, validate=validate.Length(1, 512))
    password = fields.String(required=True, validate=validate.Length(1, 1024), load_only=True)


class Diagnose(Strict):
    """``provider`` is a provider configuration (as a ``providers[n]`` section of the YAML,
    possibly unsaved), or ``{"id": ...}`` of a saved provider; ``id`` alone says the same."""

    provider = fields.Dict(
        metadata={"description": 'a provider configuration (id, type, options), or {"id": <saved id>}'}
    )
    id = fields.String(validate=validate.Length(1, 64), metadata={"description": "a saved provider's id"})
    action = fields.String(
        required=True, validate=validate.OneOf(["connection", "search", "groups", "discovery"])
    )
    username = fields.String(
        validate=validate.Length(1, 256),
        metadata={"description": "for search and groups: the user to look up"},
    )


class DiagnosticResult(Schema):
    ok = fields.Boolean(required=True, metadata={"description": "false: the backend failed a step (see why)"})
    type = fields.String(metadata={"description": "the provider type"})
    provider = fields.String(metadata={"description": "the provider id"})
    tookMs = fields.Integer()
    error = fields.String(metadata={"description": "invalid_config: see problems"})
    message = fields.String(metadata={"description": "what went wrong, in words"})
    outcome = fields.String(metadata={"description": "search/groups: found, not_found, unavailable"})
    detail = fields.String(metadata={"description": "why a step failed"})
    problems = fields.List(fields.Dict(), metadata={"description": "[{field, message}] of an invalid config"})
    servers = fields.List(
        fields.Dict(),
        metadata={"description": "connection (LDAP): [{url, ok, steps: [{step, ok, ms, detail}]}]"},
    )
    filter = fields.String(
        metadata={"description": "search/groups: the filter sent, the username escaped once"}
    )
    base = fields.String()
    scope = fields.String()
    entry = fields.Dict(allow_none=True, metadata={"description": "the entry found: {dn, attributes}"})
    groups = fields.List(
        fields.Dict(),
        metadata={"description": "groups: [{name, dn, strategy, nested, depth, path, note}]"},
    )
    preview = fields.Dict(
        allow_none=True,
        metadata={
            "description": "groups: what the mapping would answer {roles, maxStorageMB, denied, answer}"
        },
    )
    checks = fields.List(fields.Dict(), metadata={"description": "discovery: [{check, ok, detail}]"})
    redirectUri = fields.String(
        allow_none=True, metadata={"description": "discovery: the redirect URI to register at the IdP"}
    )
    backchannelLogoutUri = fields.String(
        allow_none=True,
        metadata={"description": "discovery: the back-channel logout URI to register (when enabled)"},
    )
    discoveryUrl = fields.String(metadata={"description": "discovery: the document fetched"})
    issuer = fields.String(metadata={"description": "discovery: the configured issuer"})
    endpoints = fields.Dict(metadata={"description": "discovery: the endpoints the document names"})
    backchannelLogoutSupported = fields.Boolean(
        metadata={"description": "discovery: whether the IdP says it sends back-channel logout tokens"}
    )
    matchedNames = fields.List(fields.String(), metadata={"description": "groups: the names the rules see"})
    username = fields.String(metadata={"description": "search/groups: the username looked up"})
    attributes = fields.List(fields.String(), metadata={"description": "search: the attributes read"})
    steps = fields.List(fields.Dict(), metadata={"description": "search: [{step, detail}]"})


class TraceStep(Schema):
    step = fields.String(required=True)
    detail = fields.String(required=True)


class TrialResult(Schema):
    outcome = fields.String(
        required=True,
        metadata={
            "description": (
                "success, denied (a require rule), wrong_credentials, no_such_user, disabled, "
                "username_mismatch, non_canonical or unavailable"
            )
        },
    )
    registryStatus = fields.Integer(
        required=True, metadata={"description": "what the Registry's login would get"}
    )
    steps = fields.List(fields.Nested(TraceStep), required=True)
    answer = fields.Dict(allow_none=True, metadata={"description": "the Registry's answer, on success"})


# -- me ----------------------------------------------------------------------------------------


class Me(Schema):
    userName = fields.String(required=True)
    provider = fields.String(allow_none=True)
    admin = fields.Boolean(required=True)
    roles = fields.List(fields.String(), required=True)
    maxStorageMB = fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})
    denied = fields.Boolean(required=True)
    answer = fields.Dict(
        allow_none=True,
        metadata={"description": "the exact JSON the Registry receives at login; null when refused"},
    )


class SecretCreate(Strict):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    expiresDays = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(1, 3650),
        metadata={"description": "null or absent: never expires"},
    )


class Secret(Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    createdAt = fields.DateTime(required=True)
    expiresAt = fields.DateTime(allow_none=True)
    lastUsedAt = fields.DateTime(allow_none=True)
    expired = fields.Boolean(required=True)


class SecretCreated(Secret):
    secret = fields.String(required=True, metadata={"description": "shown only this once"})


# -- who is in, bulk actions -------------------------------------------------------------------


class SignIn(Schema):
    username = fields.String(required=True)
    path = fields.String(
        required=True,
        metadata={"description": "registry_password, app_password, registry_token, browser or admin_api"},
    )
    at = fields.DateTime(
        required=True, metadata={"description": "may lag the latest sign-in by about a minute"}
    )
    clientAddress = fields.String(
        allow_none=True, metadata={"description": "the peer, or what a trusted proxy forwarded"}
    )
    userAgent = fields.String(allow_none=True, metadata={"description": "at most 255 characters"})


class ActivityPage(Schema):
    items = fields.List(fields.Nested(SignIn), required=True)
    total = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    limit = fields.Integer(required=True)


class BulkRequest(Strict):
    action = fields.String(
        required=True, validate=validate.OneOf(["disable", "enable", "delete", "add_to_group"])
    )
    userNames = fields.List(
        fields.String(validate=validate.Length(1, 127)), required=True, validate=validate.Length(1, 200)
    )
    group = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 64))


class BulkItem(Schema):
    userName = fields.String(required=True)
    ok = fields.Boolean(required=True)
    status = fields.Integer(required=True, metadata={"description": "200 done, else the refusal's status"})
    message = fields.String(required=True)


class BulkResults(Schema):
    action = fields.String(required=True)
    done = fields.Integer(required=True)
    refused = fields.Integer(required=True)
    results = fields.List(fields.Nested(BulkItem), required=True)
