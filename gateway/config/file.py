"""The YAML configuration file: providers, mapping rules, tokens, throttling, policies.

Read once at start-up into frozen objects. ``${VAR}`` (or ``${VAR:-default}``) in any string
value is replaced from the environment, so secrets stay out of the file. Unknown keys and bad
values raise ConfigError naming the file and the dotted key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from marshmallow import ValidationError, fields, validate, validates_schema

from gateway.config.email import EmailSettings, SelfServiceSettings, parse_email, parse_self_service
from gateway.config.errors import ConfigError, raise_all
from gateway.config.mfa import MfaSchema, MfaSettings
from gateway.config.registry import RegistryConfig, parse_registry_config
from gateway.config.registrysync import SyncSettings, parse_sync_settings
from gateway.login.credcache import CacheSettings
from gateway.login.throttle import ThrottleSettings
from gateway.login.usernames import ALPHABETS, UsernamePolicy
from gateway.mapping import Policy, parse_policy
from providers.catalog import CATALOG, parse_section
from providers.local.policy import PasswordPolicy
from providers.schema import StrictSchema, https_image_url, load_section_or_defaults

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class TokenSettings:
    issuer: str | None = None  # defaults to GATEWAY_PUBLIC_URL
    audience: str = "dronedb-registry"
    algorithm: str = "ES256"
    lifetime_seconds: int = 3600
    leeway_seconds: int = 30
    session_lifetime_seconds: int = 8 * 3600


@dataclass(frozen=True)
class BrandSettings:
    name: str = "DroneDB Registry"
    logo_url: str | None = None


@dataclass(frozen=True)
class SsoSettings:
    """Browser single sign-on: where the browser goes, and the ``xAuthToken`` cookie (contract §3).

    ``registry_login_url`` is the Registry web client's login page; ``None`` means browser
    sign-on is off. ``cookie_domain`` is the parent domain shared by the gateway and the
    Registry (``None``: host-only, for a gateway served on the Registry's own host).
    ``registry_origin`` is the origin allowed to frame the logout page (default: the origin
    of ``registry_login_url``). ``allowed_next`` are further exact URLs a login may return to.
    """

    registry_login_url: str | None = None
    registry_origin: str | None = None
    cookie_domain: str | None = None
    allowed_next: tuple[str, ...] = ()
    token_lifetime_seconds: int | None = None
    session_lifetime_seconds: int | None = None
    post_logout_url: str | None = None
    app_password_relogin_days: int = 30
    brand: BrandSettings = BrandSettings()

    @property
    def enabled(self) -> bool:
        return self.registry_login_url is not None


@dataclass(frozen=True)
class ProviderSettings:
    id: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AdminSettings:
    """``username``/``roles``: the bootstrapped admin. ``role``: the role whose holders may use
    the admin API and UI (the Registry's own admin role by default)."""

    username: str = "admin"
    roles: tuple[str, ...] = ("admin",)
    role: str = "admin"


@dataclass(frozen=True)
class GatewayConfig:
    source: str = "defaults"
    usernames: UsernamePolicy = UsernamePolicy()
    providers: tuple[ProviderSettings, ...] = (ProviderSettings("local", "local"),)
    tokens: TokenSettings = TokenSettings()
    throttle: ThrottleSettings = ThrottleSettings()
    password_policy: PasswordPolicy = PasswordPolicy()
    credential_cache: CacheSettings = CacheSettings(provider_seconds=(("local", 600.0),))
    admin: AdminSettings = AdminSettings()
    sso: SsoSettings = SsoSettings()
    mapping: Policy = field(default_factory=lambda: parse_policy(None, "defaults"))
    # "file": the mapping: section is the policy, read-only in the admin UI. "database": the
    # policy lives in the database, edited in the admin API/UI; the section (if any) seeds it.
    mapping_source: str = "database"
    mapping_document: Mapping[str, Any] | None = None
    # "file": the providers: list is every provider, read-only in the admin UI. "database":
    # admins add further providers in the admin API/UI (stored in the database, secrets
    # encrypted); the file's providers (the local one by default) stay, listed first.
    provider_source: str = "database"
    # The ``registry:`` section (gateway.config.registry); None: the gateway never writes to it.
    registry: RegistryConfig | None = None
    # ``registry.sync`` (gateway.config.registrysync): the directory sync; off without a
    # ``registry:`` section. A section holding only ``sync`` runs the sync without a client.
    registry_sync: SyncSettings = SyncSettings(enabled=False)
    # ``mfa:``: multi-factor sign-in (gateway.config.mfa).
    mfa: MfaSettings = MfaSettings()
    # ``email:`` (gateway.config.email); None: the gateway sends no mail.
    email: EmailSettings | None = None
    # ``self_service:``: password reset by e-mail and self-registration (off by default).
    self_service: SelfServiceSettings = SelfServiceSettings()


class _Usernames(StrictSchema):
    lowercase = fields.Boolean(load_default=True)
    trim = fields.Boolean(load_default=True)
    alphabet = fields.String(load_default="identity", validate=validate.OneOf(sorted(ALPHABETS)))


class _CredentialCache(StrictSchema):
    max_entries = fields.Integer(load_default=10_000, validate=validate.Range(0, 1_000_000))
    app_password_seconds = fields.Float(load_default=600.0, validate=validate.Range(0, 86400))


class _Tokens(StrictSchema):
    issuer = fields.Url(load_default=None, require_tld=False, schemes={"http", "https"})
    audience = fields.String(load_default="dronedb-registry", validate=validate.Length(1, 200))
    algorithm = fields.String(load_default="ES256", validate=validate.OneOf(["ES256", "EdDSA", "RS256"]))
    lifetime_seconds = fields.Integer(load_default=3600, validate=validate.Range(30, 7 * 86400))
    leeway_seconds = fields.Integer(load_default=30, validate=validate.Range(0, 300))
    session_lifetime_seconds = fields.Integer(load_default=8 * 3600, validate=validate.Range(60, 90 * 86400))


class _Throttle(StrictSchema):
    free_failures = fields.Integer(load_default=5, validate=validate.Range(1, 1000))
    base_delay_seconds = fields.Float(load_default=1.0, validate=validate.Range(0.01, 3600))
    max_delay_seconds = fields.Float(load_default=900.0, validate=validate.Range(0.01, 86400))
    window_seconds = fields.Float(load_default=3600.0, validate=validate.Range(1, 7 * 86400))


class _PasswordPolicy(StrictSchema):
    """Local passwords (providers.local.policy): lengths in NFKC characters, a list of common
    passwords, and zxcvbn's guessability score."""

    min_length = fields.Integer(load_default=12, validate=validate.Range(8, 128))
    max_length = fields.Integer(load_default=128, validate=validate.Range(64, 4096))
    blocklist = fields.String(load_default="bundled", allow_none=True)
    # zxcvbn's score, refused below it: 0 = off, 1 >= 10^3 guesses, 2 >= 10^6, 3 >= 10^8,
    # 4 >= 10^10. Estimated on the first 64 characters, with dronedb, registry, drone, the
    # username and the email address's name as known words.
    min_score = fields.Integer(
        load_default=3,
        validate=validate.Range(0, 4),
        metadata={"description": "zxcvbn score (0-4) a local password must reach; 0 turns the estimate off"},
    )


class _Admin(StrictSchema):
    username = fields.String(load_default="admin")
    roles = fields.List(fields.String(validate=validate.Length(1, 64)), load_default=["admin"])
    role = fields.String(load_default="admin", validate=validate.Length(1, 64))


_HTTP_URL: dict[str, Any] = dict(require_tld=False, schemes={"http", "https"})
_COOKIE_DOMAIN = validate.Regexp(
    r"^\.?[A-Za-z0-9]([A-Za-z0-9-]{0,62}\.)*[A-Za-z0-9-]{1,63}$",
    error="must be a domain name such as example.com",
)


def origin_of(url: str) -> str:
    """The origin of ``url`` as a browser serialises it: lower-case scheme and host, no
    default port, no user info."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


class _Brand(StrictSchema):
    name = fields.String(load_default="DroneDB Registry", validate=validate.Length(1, 100))
    logo_url = fields.Url(load_default=None, allow_none=True, validate=https_image_url, **_HTTP_URL)


class _Sso(StrictSchema):
    registry_login_url = fields.Url(load_default=None, allow_none=True, **_HTTP_URL)
    registry_origin = fields.Url(load_default=None, allow_none=True, **_HTTP_URL)
    cookie_domain = fields.String(load_default=None, allow_none=True, validate=_COOKIE_DOMAIN)
    allowed_next = fields.List(fields.Url(**_HTTP_URL), load_default=list)
    token_lifetime_seconds = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(30, 7 * 86400)
    )
    session_lifetime_seconds = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(60, 90 * 86400)
    )
    post_logout_url = fields.Url(load_default=None, allow_none=True, **_HTTP_URL)
    app_password_relogin_days = fields.Integer(load_default=30, validate=validate.Range(1, 3650))
    brand = fields.Nested(_Brand, load_default=lambda: _Brand().load({}))

    @validates_schema
    def _origin_is_an_origin(self, data, **_kwargs):
        origin = data.get("registry_origin")
        if origin is not None and origin_of(origin) != origin.rstrip("/").lower():
            raise ValidationError("must be an origin (scheme://host[:port]) with no path", "registry_origin")


def _sso_settings(data: dict) -> SsoSettings:
    login_url = data["registry_login_url"]
    origin = data["registry_origin"] or (origin_of(login_url) if login_url else None)
    return SsoSettings(
        registry_login_url=login_url,
        registry_origin=origin_of(origin) if origin else None,
        cookie_domain=data["cookie_domain"].lower().lstrip(".") if data["cookie_domain"] else None,
        allowed_next=tuple(data["allowed_next"]),
        token_lifetime_seconds=data["token_lifetime_seconds"],
        session_lifetime_seconds=data["session_lifetime_seconds"],
        post_logout_url=data["post_logout_url"],
        app_password_relogin_days=data["app_password_relogin_days"],
        brand=BrandSettings(**data["brand"]),
    )


class _Top(StrictSchema):
    usernames = fields.Dict(load_default=dict)
    providers = fields.List(fields.Dict(), load_default=None, validate=validate.Length(min=1))
    tokens = fields.Dict(load_default=dict)
    throttle = fields.Dict(load_default=dict)
    password_policy = fields.Dict(load_default=dict)
    credential_cache = fields.Dict(load_default=dict)
    admin = fields.Dict(load_default=dict)
    sso = fields.Dict(load_default=dict)
    mapping = fields.Dict(load_default=None, allow_none=True)
    mapping_source = fields.String(load_default=None, validate=validate.OneOf(["file", "database"]))
    provider_source = fields.String(load_default=None, validate=validate.OneOf(["file", "database"]))
    registry = fields.Raw(load_default=None, allow_none=True)
    mfa = fields.Dict(load_default=dict)
    email = fields.Raw(load_default=None, allow_none=True)
    self_service = fields.Raw(load_default=None, allow_none=True)


def load_config(path: Path | None, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Load and validate the configuration file; defaults when ``path`` is None. Every problem
    found is raised at once (ConfigErrors for several); a YAML syntax error names its line and
    column."""
    if path is None:
        return parse_config({}, "defaults")
    source = str(path)
    try:
        text = Path(path).read_text("utf-8")
    except OSError as error:
        raise ConfigError(source, "(file)", f"cannot read: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(source, "(file)", f"not valid YAML{_yaml_problem(error)}") from None
    if data is None:
        data = {}
    environ = os.environ if environ is None else environ
    unset: list[ConfigError] = []
    expanded = expand_variables(data, source, environ, unset=unset)
    try:
        config = parse_config(expanded, source, environ)
    except ConfigError as error:
        # A key whose variable is unset is reported once, as unset, not also as invalid.
        unset_keys = [problem.key for problem in unset]
        raise_all(unset + [p for p in error.errors if not _under_any(p.key, unset_keys)])
        raise
    raise_all(unset)
    return config


def _yaml_problem(error: yaml.YAMLError) -> str:
    """Where and what the YAML syntax error is, as "at line L:C: problem" (one line)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    if mark is None or problem is None:
        return ": " + " ".join(str(error).split())
    where = f" at line {mark.line + 1}:{mark.column + 1}"
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and context_mark is not None:
        problem += f" ({context} at line {context_mark.line + 1}:{context_mark.column + 1})"
    return f"{where}: {problem}"


def _under_any(key: str, parents: list[str]) -> bool:
    return any(key == parent or key.startswith((f"{parent}.", f"{parent}[")) for parent in parents)


def parse_config(data: Any, source: str, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Validate an already-parsed configuration tree (``environ``: where ``password_env``
    names are looked up; the process environment by default). Each section, provider and
    mapping rule is checked even when an earlier one is faulty; every problem is raised at
    once (ConfigErrors for several)."""
    if not isinstance(data, dict):
        raise ConfigError(source, "(top level)", "must be a mapping")
    found: list[ConfigError] = []

    def section(schema: type[StrictSchema], key: str) -> dict[str, Any]:
        """The section ``key`` of the top level ("": the top level itself), its faulty keys
        at their defaults."""
        loaded = load_section_or_defaults(schema, top[key] if key else data, source, key, found)
        return loaded if loaded is not None else schema().load({})

    def attempt(check, *args, fallback=None):
        try:
            return check(*args)
        except ConfigError as error:
            found.extend(error.errors)
            return fallback

    top: dict[str, Any] = {}
    top = section(_Top, "")
    usernames = UsernamePolicy(**section(_Usernames, "usernames"))
    throttle = ThrottleSettings(**section(_Throttle, "throttle"))
    if throttle.max_delay_seconds < throttle.base_delay_seconds:
        found.append(
            ConfigError(source, "throttle.max_delay_seconds", "must not be less than base_delay_seconds")
        )
    policy = section(_PasswordPolicy, "password_policy")
    if policy["max_length"] < policy["min_length"]:
        found.append(ConfigError(source, "password_policy.max_length", "must not be less than min_length"))
    admin = section(_Admin, "admin")
    if usernames.canonical(admin["username"]) != admin["username"]:
        found.append(ConfigError(source, "admin.username", "must be a canonical username"))
    # Implicit default: a config file that lists its providers is their source of truth.
    provider_source = top["provider_source"] or ("file" if top["providers"] is not None else "database")
    providers = _providers(top["providers"] or [{"id": "local", "type": "local"}], source, found)
    sso = _sso_settings(section(_Sso, "sso"))
    if any(_browser_login(p) for p in providers) and not sso.enabled:
        found.append(
            ConfigError(
                source,
                "sso.registry_login_url",
                "is required when an oidc provider is configured for browser login",
            )
        )
    cache = section(_CredentialCache, "credential_cache")
    mfa = MfaSettings(**section(MfaSchema, "mfa"))
    tokens = TokenSettings(**section(_Tokens, "tokens"))
    mapping = attempt(parse_policy, top["mapping"], source, fallback=parse_policy(None, source))
    registry = attempt(parse_registry_config, top["registry"], source, environ)
    registry_sync = (
        SyncSettings(enabled=False)
        if not isinstance(top["registry"], dict)
        else attempt(
            parse_sync_settings, top["registry"].get("sync"), source, fallback=SyncSettings(enabled=False)
        )
    )
    email = attempt(parse_email, top["email"], source, os.environ if environ is None else environ)
    self_service = attempt(
        parse_self_service, top["self_service"], source, email, fallback=SelfServiceSettings()
    )
    raise_all(found)
    return GatewayConfig(
        source=source,
        usernames=usernames,
        providers=providers,
        credential_cache=CacheSettings(
            max_entries=cache["max_entries"],
            app_password_seconds=cache["app_password_seconds"],
            provider_seconds=tuple(
                (p.id, p.options["credential_cache_seconds"])
                for p in providers
                if "credential_cache_seconds" in p.options
            ),
        ),
        tokens=tokens,
        throttle=throttle,
        password_policy=PasswordPolicy(**policy),
        admin=AdminSettings(username=admin["username"], roles=tuple(admin["roles"]), role=admin["role"]),
        sso=sso,
        mapping=mapping,
        # Implicit default: a config file that writes the rules out is their source of truth.
        mapping_source=top["mapping_source"] or ("file" if top["mapping"] is not None else "database"),
        mapping_document=top["mapping"],
        provider_source=provider_source,
        registry=registry,
        registry_sync=registry_sync,
        mfa=mfa,
        email=email,
        self_service=self_service,
    )


def _browser_login(provider: ProviderSettings) -> bool:
    """Whether browsers sign in with this provider, as its type tells from its options."""
    return CATALOG[provider.type].browser_login(provider.options)


def _providers(items: list[dict], source: str, found: list[ConfigError]) -> tuple[ProviderSettings, ...]:
    """The valid providers of ``items``; each faulty one's problems are appended to ``found``."""
    seen: set[str] = set()
    result = []
    for index, item in enumerate(items):
        where = f"providers[{index}]"
        try:
            kind, options = parse_section(item, source, where)
        except ConfigError as error:
            found.extend(error.errors)
            continue
        if options["id"] in seen:
            found.append(ConfigError(source, f"{where}.id", f"duplicate provider id {options['id']!r}"))
            continue
        seen.add(options["id"])
        provider_id = options.pop("id")
        options.pop("type")
        result.append(ProviderSettings(provider_id, kind, options))
    try:
        _check_token_routing(result, source)
    except ConfigError as error:
        found.extend(error.errors)
    return tuple(result)


def _check_token_routing(providers: list[ProviderSettings], source: str) -> None:
    """IdP tokens are routed by issuer, opaque ones to the single introspecting provider, so
    neither may be ambiguous."""
    issuers: dict[str, str] = {}
    introspecting = None
    for index, provider in enumerate(providers):
        routing = CATALOG[provider.type].token_routing(provider.options)
        issuer = routing.jwt_issuer
        if issuer is not None:
            if issuer in issuers:
                raise ConfigError(
                    source,
                    _key(index, routing.jwt_key),
                    f"provider {issuers[issuer]!r} already accepts tokens of {issuer}",
                )
            issuers[issuer] = provider.id
        if routing.introspects:
            if introspecting is not None:
                raise ConfigError(
                    source,
                    _key(index, routing.introspection_key),
                    f"only one provider may introspect opaque tokens ({introspecting!r} does)",
                )
            introspecting = provider.id


def _key(index: int, key: str) -> str:
    """The dotted key ``key`` of ``providers[index]`` (the section itself for "")."""
    return f"providers[{index}].{key}" if key else f"providers[{index}]"


def expand_variables(
    data: Any,
    source: str,
    environ: Mapping[str, str],
    where: str = "",
    unset: list[ConfigError] | None = None,
) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string value of the tree. An unset
    variable raises ConfigError, or, given ``unset``, is appended to it and left as written."""
    if isinstance(data, dict):
        return {
            key: expand_variables(value, source, environ, f"{where}.{key}" if where else str(key), unset)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [
            expand_variables(value, source, environ, f"{where}[{i}]", unset) for i, value in enumerate(data)
        ]
    if isinstance(data, str):

        def replace(match: re.Match) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            error = ConfigError(source, where, f"environment variable {name} is not set")
            if unset is None:
                raise error
            unset.append(error)
            return match.group(0)

        return VARIABLE.sub(replace, data)
    return data
