"""Request and response shapes of ``/admin/api/mapping`` (marshmallow; also OpenAPI components).

Only the envelopes are checked here (a ``document`` or ``rule`` is an object, a version is an
integer); the rule grammar is :func:`gateway.mapping.parse_policy`'s, which names the exact key.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from gateway.http.adminapi.schemas import Strict

_VERSION = validate.Range(min=0, max=2**31 - 1)
_POSITION = validate.Range(min=0, max=100_000)
_EXPECTED = {
    "description": "the version this change is based on (from GET /mapping); a "
    "stale one is refused with 409. The If-Match header works too"
}


def confirm_quota_shrink():
    """The flag that lets a change lower quotas below what users already use."""
    return fields.Boolean(
        load_default=False,
        metadata={
            "description": "save even though the change lowers some users' quota below the storage "
            "they already use (without it such a change is refused with 409 naming them)"
        },
    )


def _expected_version():
    return fields.Integer(strict=True, validate=_VERSION, allow_none=True, metadata=_EXPECTED)


# -- requests -----------------------------------------------------------------------------------


class MappingUpdate(Strict):
    document = fields.Dict(
        required=True,
        metadata={"description": "the whole policy: default_roles, default_maxStorageMB, expose, rules"},
    )
    expectedVersion = _expected_version()
    confirmQuotaShrink = confirm_quota_shrink()


class RuleCreate(Strict):
    rule = fields.Dict(
        required=True,
        metadata={"description": "one rule: name, match or require, roles, maxStorageMB, metadata"},
    )
    position = fields.Integer(
        strict=True,
        validate=_POSITION,
        allow_none=True,
        metadata={"description": "index in the rule list (0: first); omitted: last"},
    )
    expectedVersion = _expected_version()
    confirmQuotaShrink = confirm_quota_shrink()


class RuleReplace(Strict):
    rule = fields.Dict(
        required=True, metadata={"description": "the new rule; without a name it keeps the one in the path"}
    )
    expectedVersion = _expected_version()
    confirmQuotaShrink = confirm_quota_shrink()


class RuleMove(Strict):
    position = fields.Integer(
        strict=True,
        required=True,
        validate=_POSITION,
        metadata={"description": "the rule's index in the new order (0: first)"},
    )
    expectedVersion = _expected_version()
    confirmQuotaShrink = confirm_quota_shrink()


class DryRunRequest(Strict):
    document = fields.Dict(required=True, metadata={"description": "the candidate policy"})


class ExplainRequest(Strict):
    """A known user by ``userName`` alone, or a hypothetical identity when ``provider`` is
    given (then ``groups``, ``attributes``, ``email`` and ``displayName`` describe it)."""

    userName = fields.String(required=True, validate=validate.Length(1, 127))
    provider = fields.String(validate=validate.Length(1, 64))
    groups = fields.List(fields.String(validate=validate.Length(1, 1024)), validate=validate.Length(max=1000))
    attributes = fields.Dict(keys=fields.String(validate=validate.Length(1, 128)))
    email = fields.String(allow_none=True, validate=validate.Length(max=320))
    displayName = fields.String(allow_none=True, validate=validate.Length(max=200))


# -- responses ----------------------------------------------------------------------------------


class MappingState(Schema):
    source = fields.String(required=True, validate=validate.OneOf(["file", "database"]))
    editable = fields.Boolean(
        required=True, metadata={"description": "false: the config file's policy, read-only here"}
    )
    version = fields.Integer(required=True, metadata={"description": "0 for the config file"})
    updatedAt = fields.DateTime(required=True, allow_none=True)
    updatedBy = fields.String(required=True, allow_none=True)
    document = fields.Dict(required=True)
    warnings = fields.List(
        fields.String(),
        metadata={
            "description": "after a write: group names nobody has and no directory knows "
            "(check the spelling; the change was saved)"
        },
    )


class Outcome(Schema):
    roles = fields.List(fields.String(), required=True)
    maxStorageMB = fields.Integer(required=True, allow_none=True, metadata={"description": "null: unlimited"})
    allowed = fields.Boolean(required=True)


class Change(Schema):
    userName = fields.String(required=True)
    before = fields.Nested(Outcome, required=True)
    after = fields.Nested(Outcome, required=True)


class DryRunResult(Schema):
    warnings = fields.List(
        fields.String(), metadata={"description": "group names the candidate brings in that nobody has"}
    )
    valid = fields.Boolean(required=True)
    error = fields.String(required=True, allow_none=True)
    field = fields.String(required=True, allow_none=True)
    basedOnVersion = fields.Integer(required=True)
    changes = fields.List(fields.Nested(Change), required=True)
    unchanged = fields.Integer(required=True)
    adminsBefore = fields.List(fields.String(), required=True)
    adminsAfter = fields.List(fields.String(), required=True)
    wouldLockOutAdmins = fields.Boolean(required=True)
    newRoles = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "roles the candidate grants that are not registered yet"},
    )


class ExplainedIdentity(Schema):
    provider = fields.String(required=True, allow_none=True)
    userName = fields.String(required=True)
    email = fields.String(required=True, allow_none=True)
    displayName = fields.String(required=True, allow_none=True)
    groups = fields.List(fields.String(), required=True)
    attributes = fields.Dict(required=True)


class RuleStep(Schema):
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["grant", "require"]))
    matched = fields.Boolean(required=True)
    why = fields.String(required=True)
    grants = fields.String(required=True)


class Defaults(Schema):
    roles = fields.List(fields.String(), required=True)
    maxStorageMB = fields.Integer(required=True, allow_none=True)
    expose = fields.List(fields.String(), required=True)


class OverrideStep(Schema):
    key = fields.String(required=True)
    applied = fields.Boolean(required=True)
    why = fields.String(required=True)


class OrganizationGrant(Schema):
    slug = fields.String(required=True)
    permissions = fields.String(
        required=True, validate=validate.OneOf(["read-only", "read-write", "read-write-delete", "admin"])
    )


class Explanation(Schema):
    identity = fields.Nested(ExplainedIdentity, required=True)
    identitySource = fields.String(
        required=True, validate=validate.OneOf(["current", "last login", "hypothetical"])
    )
    enabled = fields.Boolean(
        required=True, allow_none=True, metadata={"description": "null for a hypothetical identity"}
    )
    allowed = fields.Boolean(required=True)
    denyReason = fields.String(required=True, allow_none=True)
    rules = fields.List(fields.Nested(RuleStep), required=True)
    defaults = fields.Nested(Defaults, required=True)
    overrides = fields.List(fields.Nested(OverrideStep), required=True)
    roles = fields.List(fields.String(), required=True)
    maxStorageMB = fields.Integer(required=True, allow_none=True, metadata={"description": "null: unlimited"})
    maxStorageMBWhy = fields.String(required=True)
    metadata = fields.Dict(required=True)
    organizations = fields.List(
        fields.Nested(OrganizationGrant),
        required=True,
        metadata={
            "description": "the Registry organizations the rules grant (pushed separately, not in the answer)"
        },
    )
    answer = fields.Dict(
        required=True,
        allow_none=True,
        metadata={"description": "exactly what the Registry receives; null when the login is refused"},
    )
    text = fields.String(required=True, metadata={"description": "the CLI's explanation"})
