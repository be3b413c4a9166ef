"""The ``mfa:`` section of the configuration: multi-factor sign-in."""

from __future__ import annotations

import re
from dataclasses import dataclass

from marshmallow import ValidationError, fields, validate, validates

from providers.schema import StrictSchema

REFUSE = "refuse"
ALLOW = "allow"
_HOST = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)


@dataclass(frozen=True)
class MfaSettings:
    """``admins_required``: holders of the admin role must sign in with a second factor (the
    admin UI and API). ``registry_password``: ``refuse`` (default) refuses an enrolled
    account's own password on the Registry's password path, which cannot ask for a second
    factor (app passwords keep working); ``allow`` accepts it. ``rp_id``: the WebAuthn relying
    party id, by default the host of GATEWAY_PUBLIC_URL. ``issuer``: the name authenticator
    apps show, by default the brand name."""

    admins_required: bool = False
    registry_password: str = REFUSE
    rp_id: str | None = None
    issuer: str | None = None


class MfaSchema(StrictSchema):
    admins_required = fields.Boolean(load_default=False)
    registry_password = fields.String(load_default=REFUSE, validate=validate.OneOf([REFUSE, ALLOW]))
    rp_id = fields.String(load_default=None, allow_none=True)
    issuer = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 100))

    @validates("rp_id")
    def _rp_id_is_a_host(self, value, **_kwargs):
        if value is not None and not _HOST.fullmatch(value):
            raise ValidationError("must be a host name in lower case (the gateway's host or a parent domain)")
