"""The admin UI's guided form for an OpenID Connect IdP (see ``providers/adminform.py``): the
inputs, their groups and hints, and the check it offers."""

from __future__ import annotations

from providers.adminform import CHOICE, FLAG, SECRET, WORDS, AdminForm, FormField

_IDP, _CLAIMS = "Identity provider", "Claims"

ADMIN_FORM = AdminForm(
    label="OpenID Connect",
    add_label="Add an OpenID Connect provider",
    fields=(
        FormField(
            "issuer",
            "issuer",
            "Issuer URL",
            group=_IDP,
            hint="Exactly as the IdP's discovery document names it, such as "
            "https://login.example.com/realms/main",
            required=True,
            missing="Enter the issuer URL.",
            inputmode="url",
        ),
        FormField(
            "client_id",
            "client_id",
            "Client id",
            group=_IDP,
            required=True,
            missing="Enter the client id.",
            maxlength=255,
        ),
        FormField("client_auth", "client_auth", "Client authentication", CHOICE, _IDP),
        FormField(
            "client_secret",
            "client_secret",
            "Client secret",
            SECRET,
            _IDP,
            hint="Stored encrypted; never shown again. Not used with client authentication none.",
            missing="Enter the client secret.",
            stored_hint="A secret is stored (encrypted). Leave empty to keep it; type it again when "
            "you change the issuer.",
            unused_when=("client_auth", "none"),
        ),
        FormField(
            "scopes", "scopes", "Scopes", WORDS, _IDP, hint="Separated by spaces; must include openid."
        ),
        FormField(
            "username_claim",
            "username_claim",
            "Username claim",
            group=_CLAIMS,
            hint="Empty: preferred_username.",
            maxlength=256,
        ),
        FormField(
            "groups_claim",
            "groups_claim",
            "Groups claim",
            group=_CLAIMS,
            hint="A claim name or dotted path such as realm_access.roles. Empty: groups.",
            maxlength=256,
        ),
        FormField(
            "display_name",
            "display_name",
            "Button label",
            group=_CLAIMS,
            hint="The sign-in button's name, such as Company SSO.",
            maxlength=100,
        ),
        FormField(
            "browser_login",
            "browser_login",
            "Browsers sign in with it (a button on the sign-in page)",
            FLAG,
            _CLAIMS,
        ),
    ),
    new_values={
        "client_auth": "client_secret_basic",
        "scopes": "openid profile email",
        "browser_login": True,
        "enabled": True,
    },
    checks=("discovery",),
)
