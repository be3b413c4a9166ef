"""The ``type: ldap`` provider section of the configuration, validated, and its settings value.

A ``preset`` (``openldap`` or ``active_directory``) fills in what is not configured; the
result is checked as a whole (templates carry their placeholder, server URLs parse, files
exist, a group base is there when a strategy needs one). Errors name the dotted key.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ldap3.utils.dn import parse_dn
from marshmallow import ValidationError, fields, pre_load, validate, validates_schema

from providers.ldap.connections import parse_server_url
from providers.ldap.settings import (
    ACCOUNT_STATES,
    MEMBER_OF,
    PRESETS,
    STRATEGIES,
    GroupSettings,
    LdapSettings,
    TlsSettings,
    UserSettings,
    apply_preset,
)
from providers.schema import ProviderSection, StrictSchema, settings_value, type_field

_SCOPES = ["subtree", "one"]
# Dotted keys of the section that are secrets: encrypted at rest in the database, never shown.
SECRET_FIELDS = ("bind.password",)
# The keys that decide where the bind password is sent and how it is protected on the way: a
# change to any of them makes an admin enter the stored password again.
SECRET_DESTINATION_FIELDS = ("servers", "start_tls", "tls")
_ATTRIBUTE = validate.Regexp(
    r"^[A-Za-z][A-Za-z0-9-]{0,127}$|^[0-9]+(\.[0-9]+)+$", error="not an LDAP attribute name"
)
_EXPOSED_NAME = validate.Regexp(r"^[A-Za-z][A-Za-z0-9_]{0,63}$", error="not a usable attribute name")


def _template(placeholder: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        if "{" + placeholder + "}" not in value:
            raise ValidationError(f"must contain {{{placeholder}}}")

    return check


def _filter(placeholder: str) -> Callable[[str], None]:
    def check(value: str) -> None:
        _template(placeholder)(value)
        depth = 0
        for char in value:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth < 0:
                break
        if not value.startswith("(") or depth != 0:
            raise ValidationError("must be a parenthesised LDAP filter")

    return check


def _dn_template(value: str) -> None:
    """A DN with ``{username}`` in it: the entry bound is then read back at that DN, so the
    identity is always the one whose password was checked (a UPN-style bind name could
    match someone else's entry when searched for)."""
    _template("username")(value)
    try:
        parts = parse_dn(value.replace("{username}", "x"))
    except Exception:
        parts = []
    if len(parts) < 2:
        raise ValidationError(
            "must be a DN such as uid={username},ou=people,dc=example,dc=com; "
            "for user@domain logins use a search (user.filter) instead"
        )


def _existing_file(value: str) -> None:
    if not os.path.isfile(value):
        raise ValidationError("file does not exist")


def _server_url(value: str) -> None:
    try:
        parse_server_url(value)
    except ValueError as error:
        raise ValidationError(str(error)) from None


class _Tls(StrictSchema):
    ca_file = fields.String(load_default=None, validate=_existing_file)
    client_cert_file = fields.String(load_default=None, validate=_existing_file)
    client_key_file = fields.String(load_default=None, validate=_existing_file)
    verify_hostname = fields.Boolean(load_default=True)

    @validates_schema
    def _pair(self, data: dict[str, Any], **kwargs: Any) -> None:
        if bool(data.get("client_cert_file")) != bool(data.get("client_key_file")):
            raise ValidationError("client_cert_file and client_key_file go together", "client_key_file")


class _Bind(StrictSchema):
    dn = fields.String(required=True, validate=validate.Length(1, 1024))
    password = fields.String(required=True, validate=validate.Length(1, 1024))


class _User(StrictSchema):
    base = fields.String(required=True, validate=validate.Length(1, 1024))
    scope = fields.String(load_default="subtree", validate=validate.OneOf(_SCOPES))
    filter = fields.String(load_default="(uid={username})", validate=_filter("username"))
    dn_template = fields.String(load_default=None, validate=_dn_template)
    username_attribute = fields.String(load_default="uid", validate=_ATTRIBUTE)
    email_attribute = fields.String(load_default="mail", allow_none=True, validate=_ATTRIBUTE)
    display_name_attribute = fields.String(load_default="displayName", allow_none=True, validate=_ATTRIBUTE)
    id_attribute = fields.String(load_default="entryUUID", validate=_ATTRIBUTE)
    attributes = fields.Dict(
        keys=fields.String(validate=_EXPOSED_NAME),
        values=fields.String(validate=_ATTRIBUTE),
        load_default=dict,
    )
    quota_attribute = fields.String(load_default=None, validate=_ATTRIBUTE)


class _Groups(StrictSchema):
    strategies = fields.List(
        fields.String(validate=validate.OneOf(STRATEGIES)),
        load_default=lambda: ["member"],
        validate=validate.Length(min=0, max=4),
    )
    base = fields.String(load_default=None, validate=validate.Length(1, 1024))
    scope = fields.String(load_default="subtree", validate=validate.OneOf(_SCOPES))
    member_filter = fields.String(load_default=GroupSettings.member_filter, validate=_filter("dn"))
    member_uid_filter = fields.String(load_default=GroupSettings.member_uid_filter, validate=_filter("uid"))
    member_uid_attribute = fields.String(load_default="uid", validate=_ATTRIBUTE)
    in_chain_filter = fields.String(load_default=GroupSettings.in_chain_filter, validate=_filter("dn"))
    name_attribute = fields.String(load_default="cn", validate=_ATTRIBUTE)
    nested = fields.Boolean(load_default=True)
    max_depth = fields.Integer(load_default=8, validate=validate.Range(1, 64))
    page_size = fields.Integer(load_default=500, validate=validate.Range(10, 10000))
    nesting_cache_seconds = fields.Float(load_default=60.0, validate=validate.Range(0, 86400))

    @validates_schema
    def _base_when_searched(self, data: dict[str, Any], **kwargs: Any) -> None:
        searching = set(data["strategies"]) - {MEMBER_OF} or (data["strategies"] and data["nested"])
        if searching and not data.get("base"):
            raise ValidationError("required by the configured group strategies", "base")


class LdapProviderSchema(ProviderSection):
    """``providers[n]`` with ``type: ldap``."""

    type = type_field("ldap")
    preset = fields.String(load_default=None, validate=validate.OneOf(sorted(PRESETS)))
    servers = fields.List(fields.String(validate=_server_url), required=True, validate=validate.Length(1, 16))
    start_tls = fields.Boolean(load_default=False)
    tls = fields.Nested(_Tls, load_default=lambda: _Tls().load({}))
    bind = fields.Nested(_Bind, load_default=None, allow_none=True)
    user = fields.Nested(_User, required=True)
    groups = fields.Nested(_Groups, load_default=lambda: _Groups().load({}))
    account_state = fields.String(load_default="none", validate=validate.OneOf(ACCOUNT_STATES))
    # Where this provider's users reset a forgotten password (the gateway cannot): shown on
    # /password/forgot when ``self_service.password_reset`` is on.
    password_reset_url = fields.Url(
        load_default=None, allow_none=True, require_tld=False, schemes={"http", "https"}
    )
    connect_timeout_seconds = fields.Float(load_default=2.0, validate=validate.Range(0.1, 30))
    operation_timeout_seconds = fields.Integer(load_default=4, validate=validate.Range(1, 60))
    login_timeout_seconds = fields.Float(load_default=10.0, validate=validate.Range(0.5, 60))
    retry_dead_after_seconds = fields.Float(load_default=10.0, validate=validate.Range(0.1, 3600))
    pool_size = fields.Integer(load_default=4, validate=validate.Range(1, 64))
    pool_max_idle_seconds = fields.Float(load_default=300.0, validate=validate.Range(1, 86400))
    equalize_unknown_user_timing = fields.Boolean(load_default=True)
    # A password changed in the directory is noticed at the latest after this long.
    credential_cache_seconds = fields.Float(load_default=120.0, validate=validate.Range(0, 86400))

    @pre_load
    def _preset(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("preset"), str) and data["preset"] in PRESETS:
            return apply_preset(data["preset"], data)
        return data

    @validates_schema
    def _coherent(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["start_tls"] and all(url.startswith("ldaps:") for url in data["servers"]):
            raise ValidationError("start_tls is for ldap:// servers; every server is ldaps://", "start_tls")
        worst = (
            data["login_timeout_seconds"]
            + data["operation_timeout_seconds"]
            + data["connect_timeout_seconds"]
        )
        if worst > 60:
            raise ValidationError(
                f"login_timeout + one operation may take {worst:.0f} s; keep it under 60 s "
                "(the Registry gives up after 100 s)",
                "login_timeout_seconds",
            )


def ldap_settings(options: dict[str, Any]) -> LdapSettings:
    """The provider settings for an already validated ``type: ldap`` section (without id/type)."""
    user, bind = options["user"], options.get("bind")
    return settings_value(
        LdapSettings,
        options,
        user=settings_value(UserSettings, user, attributes=dict(user["attributes"])),
        groups=settings_value(GroupSettings, options["groups"]),
        tls=settings_value(TlsSettings, options["tls"]),
        bind_dn=bind["dn"] if bind else None,
        bind_password=bind["password"] if bind else None,
        connect_timeout=options["connect_timeout_seconds"],
        login_timeout=options["login_timeout_seconds"],
        operation_timeout=options["operation_timeout_seconds"],
        retry_dead_after=options["retry_dead_after_seconds"],
        pool_max_idle=options["pool_max_idle_seconds"],
    )
