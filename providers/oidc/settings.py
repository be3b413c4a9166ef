"""What an OpenID Connect provider is configured with.

Plain frozen values: the gateway validates the YAML and builds these; tests build them
directly. A claim path is either a dotted string (``"realm_access.roles"``) or a tuple of
segments, for a key that itself holds dots (``("resource_access", "my.client", "roles")``).
"""

from __future__ import annotations

from dataclasses import dataclass

ClaimPath = str | tuple[str, ...]

# Asymmetric JWS algorithms only: an HMAC algorithm would let anyone holding the IdP's
# public key (or the client secret) mint tokens, and "none" signs nothing.
ASYMMETRIC_ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
USERINFO_MODES = ("fallback", "always", "never")
BACKCHANNEL_ACTIONS = ("end_sessions", "deactivate")


@dataclass(frozen=True)
class OidcBackchannelSettings:
    """OpenID Connect Back-Channel Logout 1.0: whether this IdP may end gateway sessions, and
    what else its logout ends."""

    enabled: bool = False
    on_logout: str = "end_sessions"  # or deactivate: also deactivate the user at the Registry
    revoke_app_passwords: bool = False  # also revoke the user's app passwords and API keys
    max_token_age_seconds: float = 300  # a logout token issued (iat) longer ago is refused


@dataclass(frozen=True)
class OidcTokenSettings:
    """Which bearer tokens of this IdP the token path accepts (none by default)."""

    accept_id_tokens: bool = False  # ID tokens whose aud contains client_id
    access_token_audiences: tuple[str, ...] = ()  # JWT access tokens (at+jwt or plain JWT) for one of these
    introspection: bool = False  # opaque tokens, by RFC 7662 introspection


@dataclass(frozen=True)
class OidcSettings:
    """One IdP and this gateway's client registration at it."""

    issuer: str  # exact; discovery at issuer + /.well-known/openid-configuration
    client_id: str
    client_secret: str | None = None
    client_auth: str = "client_secret_basic"  # or client_secret_post, or none (public client, PKCE only)
    discovery_url: str | None = None
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    username_claim: ClaimPath = "preferred_username"
    username_strip_domains: tuple[str, ...] = ()  # lower case; "ann@<one of these>" becomes "ann"
    groups_claim: ClaimPath | None = "groups"  # None: no groups
    userinfo: str = "fallback"  # fallback: only when a wanted claim is not in the ID token
    require_email_verified: bool = False
    expose_claims: tuple[str, ...] = ()  # copied into Identity.attributes when str, int or bool
    display_name: str = ""  # names the provider on pages; "" means its id
    label: str = ""  # landing page button; "" means "Sign in with <display name>"
    logo_url: str | None = None  # https only (the pages' CSP loads no http images)
    browser_login: bool = True  # False: token path only, no landing page button
    end_session: bool = True  # logout may continue to the IdP's end_session_endpoint
    timeout_seconds: float = 3.0  # per outbound call: connect, first byte, whole answer
    ca_file: str | None = None  # PEM bundle to verify the IdP's TLS with (private CA)
    discovery_ttl_seconds: float = 3600
    jwks_min_refresh_seconds: float = 10  # an unknown kid refetches the JWKS at most this often
    algorithms: tuple[str, ...] = ("RS256", "ES256", "PS256", "EdDSA")
    tokens: OidcTokenSettings = OidcTokenSettings()
    backchannel_logout: OidcBackchannelSettings = OidcBackchannelSettings()

    @property
    def discovery_document_url(self) -> str:
        return self.discovery_url or self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def name_for(self, provider_id: str) -> str:
        """What pages call this provider: its ``display_name``, else its id."""
        return self.display_name or provider_id

    def label_for(self, provider_id: str) -> str:
        """The text of its landing page button: its ``label``, else ``Sign in with <name>``."""
        return self.label or f"Sign in with {self.name_for(provider_id)}"
