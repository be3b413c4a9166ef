"""Request and response shapes of the providers kept in the database (marshmallow; also their
OpenAPI components). A provider's ``settings`` are its section of the YAML ``providers:`` list
without ``id`` and ``type``, checked by that type's own schema; secrets read back as "(set)"."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from gateway.http.adminapi.schemas import Strict

_SETTINGS = fields.Dict(
    keys=fields.String(),
    required=True,
    metadata={
        "description": "the provider's section as in the YAML providers: list, without id and type; "
        'a secret left out or sent as "(set)" keeps the stored one, null removes it'
    },
)


class ProviderCreate(Strict):
    id = fields.String(required=True, validate=validate.Length(1, 64))
    type = fields.String(required=True, metadata={"description": "ldap or oidc"})
    enabled = fields.Boolean(load_default=True)
    position = fields.Integer(
        load_default=None, validate=validate.Range(0, 999), metadata={"description": "default: last"}
    )
    settings = _SETTINGS


class ProviderUpdate(Strict):
    settings = _SETTINGS
    enabled = fields.Boolean(load_default=None)


class ProviderMove(Strict):
    position = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(0, 999),
        metadata={"description": "index among the database's providers (0: first after the file's)"},
    )


class ProviderConfig(Schema):
    id = fields.String(required=True)
    type = fields.String(required=True)
    origin = fields.String(required=True, metadata={"description": "file or database"})
    position = fields.Integer(required=True)
    enabled = fields.Boolean(required=True)
    active = fields.Boolean(required=True, metadata={"description": "in force on this worker now"})
    editable = fields.Boolean(required=True)
    settings = fields.Dict(required=True, metadata={"description": 'secrets shown as "(set)"'})
    updatedAt = fields.DateTime(allow_none=True)
    updatedBy = fields.String(allow_none=True)
    secretsUnreadable = fields.Boolean(
        required=True,
        metadata={
            "description": "its secrets do not decrypt with this key: out of service until entered again"
        },
    )


class ProviderConfigList(Schema):
    source = fields.String(required=True, metadata={"description": "provider_source: file or database"})
    editable = fields.Boolean(required=True)
    providers = fields.List(fields.Nested(ProviderConfig), required=True)
