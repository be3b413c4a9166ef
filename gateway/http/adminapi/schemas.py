"""Request and response shapes of the admin API (marshmallow), also its OpenAPI components.

User shapes follow the Registry's own user API (``userName``, ``email``, ``roles``; camelCase),
so that admins' scripts port over; the gateway adds what it knows beyond that.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate


class Strict(Schema):
    class Meta:
        unknown = RAISE


_NAME = validate.Length(1, 127)
_ROLE = fields.String(validate=validate.Length(1, 64))
_GROUP = fields.String(validate=validate.Length(1, 64))


class Error(Schema):
    error = fields.String(required=True, metadata={"description": "what went wrong"})
    field = fields.String(metadata={"description": "the input field at fault, if one"})
    fields_ = fields.Dict(data_key="fields", metadata={"description": "all field errors"})


class UserCreate(Strict):
    userName = fields.String(required=True, validate=_NAME)
    password = fields.String(required=True, validate=validate.Length(1, 1024), load_only=True)
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=320))
    displayName = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    roles = fields.List(
        _ROLE,
        load_default=None,
        allow_none=True,
        metadata={
            "description": "roles granted to this user directly (a per-user "
            "override, added to what the rules grant)"
        },
    )
    groups = fields.List(_GROUP, load_default=list)
    metadata = fields.Dict(
        keys=fields.String(),
        load_default=None,
        allow_none=True,
        metadata={"description": "per-user answer values, e.g. maxStorageMB"},
    )
    maxStorageMB = fields.Raw(
        load_default=None,
        allow_none=True,
        metadata={
            "description": 'per-user quota: integer MB, a size such as "500 MB", "50 GB" or "2 TB" '
            '(1 GB = 1024 MB), or "unlimited"; stored as integer MB. The same as metadata.maxStorageMB',
        },
    )
    mustChangePassword = fields.Boolean(
        load_default=False,
        metadata={
            "description": "a temporary password: the user must choose their own at the first browser "
            "sign-in; until then every other way in (the Registry's password path too) answers 403"
        },
    )


class UserUpdate(Strict):
    email = fields.Email(allow_none=True, validate=validate.Length(max=320))
    displayName = fields.String(allow_none=True, validate=validate.Length(max=200))
    roles = fields.List(_ROLE, allow_none=True)
    groups = fields.List(_GROUP, allow_none=True)
    enabled = fields.Boolean()


class User(Schema):
    """A user as the Registry's ``GET /users`` shows one, with effective roles."""

    userName = fields.String(required=True)
    email = fields.String(allow_none=True)
    roles = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "effective roles: what the Registry receives"},
    )


class UserDetail(User):
    displayName = fields.String(allow_none=True)
    provider = fields.String(allow_none=True)
    readOnly = fields.Boolean(metadata={"description": "managed by a directory or IdP"})
    enabled = fields.Boolean()
    groups = fields.List(fields.String())
    maxStorageMB = fields.Integer(allow_none=True, metadata={"description": "null: unlimited"})
    storageUsedBytes = fields.Integer(
        allow_none=True,
        metadata={"description": "storage used at the Registry (bytes), as last read; null: unknown"},
    )
    storageFetchedAt = fields.DateTime(
        allow_none=True, metadata={"description": "when storageUsedBytes was read from the Registry"}
    )
    denied = fields.Boolean(metadata={"description": "a require rule refuses this user's login"})
    createdAt = fields.DateTime(allow_none=True)
    lastLoginAt = fields.DateTime(allow_none=True)
    activeSessions = fields.Integer()
    appPasswords = fields.Integer()
    apiKeys = fields.Integer()
    lastActivityAt = fields.DateTime(
        allow_none=True,
        metadata={"description": "the newest sign-in on any path (about a minute late at most)"},
    )
    lastSignIns = fields.List(
        fields.Dict(), metadata={"description": "the last sign-in per path (see GET /activity's items)"}
    )
    metadata = fields.Dict()
    mustChangePassword = fields.Boolean(
        metadata={"description": "a temporary password: refused everywhere until changed in a browser"}
    )
    registrationState = fields.String(
        allow_none=True, metadata={"description": "self-registered, not yet admitted: unverified or pending"}
    )


class UserPage(Schema):
    items = fields.List(fields.Nested(UserDetail), required=True)
    total = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    limit = fields.Integer(required=True)


class AdminPassword(Strict):
    newPassword = fields.String(required=True, validate=validate.Length(1, 1024), load_only=True)
    mustChangePassword = fields.Boolean(
        load_default=False,
        metadata={
            "description": "a temporary password: the user must choose their own at the next browser "
            "sign-in; until then every other way in (the Registry's password path too) answers 403"
        },
    )


class OwnPassword(Strict):
    currentPassword = fields.String(required=True, validate=validate.Length(1, 1024), load_only=True)
    newPassword = fields.String(required=True, validate=validate.Length(1, 1024), load_only=True)


class Metadata(Schema):
    class Meta:
        unknown = "include"


class TokenRequest(Strict):
    username = fields.String(required=True, validate=validate.Length(1, 512))
    password = fields.String(required=True, validate=validate.Length(1, 1024), load_only=True)
    # A current code of the account's authenticator app, for an account with two-step sign-in.
    totp = fields.String(load_default=None, validate=validate.Length(1, 16), load_only=True)


class Factor(Schema):
    id = fields.String(required=True)
    type = fields.String(required=True, metadata={"enum": ["totp", "webauthn"]})
    name = fields.String(required=True)
    created = fields.String(required=True)
    lastUsed = fields.String(allow_none=True)


class FactorList(Schema):
    factors = fields.List(fields.Nested(Factor), required=True)


class FactorReset(Schema):
    removed = fields.Integer(required=True)


class TokenResponse(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
    username = fields.String(required=True)
    admin = fields.Boolean(required=True)


class Message(Schema):
    message = fields.String(required=True)
