"""The ``providers:`` list of the configuration file: each entry parsed by its type's schema
(providers.catalog), ids unique, and IdP tokens routable to exactly one provider."""

from __future__ import annotations

from gateway.config.errors import ConfigError
from gateway.config.settingsobjects import ProviderSettings
from providers.catalog import CATALOG, parse_section


def browser_login(provider: ProviderSettings) -> bool:
    """Whether browsers sign in with this provider, as its type tells from its options."""
    return CATALOG[provider.type].browser_login(provider.options)


def parse_providers(items: list[dict], source: str, found: list[ConfigError]) -> tuple[ProviderSettings, ...]:
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
