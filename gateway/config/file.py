"""The YAML configuration file: providers, mapping rules, tokens, throttling, policies.

Read once at start-up into frozen objects (gateway.config.settingsobjects). ``${VAR}`` (or
``${VAR:-default}``) in any string value is replaced from the environment
(gateway.config.variables), so secrets stay out of the file. Unknown keys and bad values raise
ConfigError naming the file and the dotted key. The sections' schemas are in
gateway.config.sections, the providers list in gateway.config.providerlist.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gateway.config import sections
from gateway.config.email import SelfServiceSettings, parse_email, parse_self_service
from gateway.config.errors import ConfigError, ConfigErrors, raise_all
from gateway.config.mfa import MfaSchema, MfaSettings
from gateway.config.providerlist import browser_login, parse_providers
from gateway.config.registry import parse_registry_config
from gateway.config.registrysync import SyncSettings, parse_sync_settings
from gateway.config.settingsobjects import AdminSettings, GatewayConfig, TokenSettings
from gateway.config.variables import expand_variables
from gateway.login.credcache import CacheSettings
from gateway.login.throttle import ThrottleSettings
from gateway.login.usernames import UsernamePolicy
from gateway.mapping import parse_policy
from providers.local.policy import PasswordPolicy
from providers.schema import StrictSchema, load_section_or_defaults, plain_words


def load_config(path: Path | None, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    """Load and validate the configuration file; defaults when ``path`` is None. Every problem
    found is raised at once (ConfigErrors for several), in plain words (what to write
    instead); a YAML syntax error names its line and column."""
    try:
        return _load_config(path, environ)
    except ConfigError as error:
        raise _in_plain_words(error) from None


def _in_plain_words(error: ConfigError) -> ConfigError:
    problems = [ConfigError(p.source, p.key, plain_words(p.message)) for p in error.errors]
    return problems[0] if len(problems) == 1 else ConfigErrors(problems)


def _load_config(path: Path | None, environ: Mapping[str, str] | None) -> GatewayConfig:
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
    top = section(sections.Top, "")
    usernames = UsernamePolicy(**section(sections.Usernames, "usernames"))
    throttle = ThrottleSettings(**section(sections.Throttle, "throttle"))
    if throttle.max_delay_seconds < throttle.base_delay_seconds:
        found.append(
            ConfigError(source, "throttle.max_delay_seconds", "must not be less than base_delay_seconds")
        )
    policy = section(sections.PasswordPolicy, "password_policy")
    if policy["max_length"] < policy["min_length"]:
        found.append(ConfigError(source, "password_policy.max_length", "must not be less than min_length"))
    admin = section(sections.Admin, "admin")
    if usernames.canonical(admin["username"]) != admin["username"]:
        found.append(ConfigError(source, "admin.username", usernames.advice(admin["username"])))
    # Implicit default: a config file that lists its providers is their source of truth.
    provider_source = top["provider_source"] or ("file" if top["providers"] is not None else "database")
    providers = parse_providers(top["providers"] or [{"id": "local", "type": "local"}], source, found)
    sso = sections.sso_settings(section(sections.Sso, "sso"))
    if any(browser_login(p) for p in providers) and not sso.enabled:
        found.append(
            ConfigError(
                source,
                "sso.registry_login_url",
                "is required when an oidc provider is configured for browser login",
            )
        )
    cache = section(sections.CredentialCache, "credential_cache")
    mfa = MfaSettings(**section(MfaSchema, "mfa"))
    tokens = TokenSettings(**section(sections.Tokens, "tokens"))
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
