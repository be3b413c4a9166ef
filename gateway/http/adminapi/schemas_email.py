"""Request and response shapes of ``/admin/api/email`` (marshmallow; also their OpenAPI
components)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from gateway.http.adminapi.schemas import Strict


class EmailTestRequest(Strict):
    to = fields.String(
        required=True, validate=validate.Length(1, 320), metadata={"description": "an address"}
    )


class EmailSettingsView(Schema):
    host = fields.String(required=True)
    port = fields.Integer(required=True)
    security = fields.String(required=True, metadata={"description": "none, starttls or tls"})
    username = fields.String(allow_none=True)
    passwordSet = fields.Boolean(
        required=True, metadata={"description": "the password itself is never shown"}
    )
    sender = fields.String(required=True)
    brand = fields.String(allow_none=True)
    timeoutSeconds = fields.Float(required=True)
    maxAttempts = fields.Integer(required=True)


class FailedMailView(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    recipient = fields.String(required=True)
    attempts = fields.Integer(required=True)
    error = fields.String(allow_none=True)
    createdAt = fields.String(required=True)


class MailQueueView(Schema):
    pending = fields.Integer(required=True)
    retrying = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    oldestPendingAgeSeconds = fields.Float(allow_none=True)
    lastError = fields.String(allow_none=True)
    failedMails = fields.List(fields.Nested(FailedMailView), required=True)


class EmailOverview(Schema):
    settings = fields.Nested(EmailSettingsView, allow_none=True, metadata={"description": "null: no email:"})
    queue = fields.Nested(MailQueueView, required=True)
