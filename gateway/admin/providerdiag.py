"""Diagnostics of an unsaved provider configuration (a ``providers[n]`` mapping: ``id``,
``type`` and the type's options), for the provider forms.

TODO(integrator): this is prov18's minimal stand-in; replace it with diag18's
``gateway/admin/providerdiag.py`` (same four functions, same keyword arguments, richer
results: every server of a failover list, the filter sent, the strategy that found each
group). The admin UI reaches these only through ``gateway/http/adminui/providerdiagnose.py``.

Every function returns a plain dict with ``ok`` (bool) and ``message``; an invalid
configuration is ``{ok: false, error: "invalid_config", problems: [{field, message}]}``.
Nothing secret is ever in a result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from providers.base import Closable, HealthCheck, Identity, IdentityLookup, Rejection
from providers.catalog import build_provider, parse_section
from providers.providertype import BuildContext
from providers.schema import ConfigError

Canonical = Callable[[str], str | None]


def _as_typed(username: str) -> str | None:
    return username


def test_connection(config: Any) -> dict[str, Any]:
    """Reach the provider's backend (its own health check, bounded by its timeouts)."""
    return _with_provider(config, _health)


def search_user(config: Any, username: str, *, canonical: Canonical = _as_typed) -> dict[str, Any]:
    """The entry a login of ``username`` would find, without any password."""
    return _with_provider(config, lambda provider: _lookup(provider, username, canonical, groups=False))


def show_groups(
    config: Any,
    username: str,
    *,
    canonical: Canonical = _as_typed,
    evaluate: Callable[[Identity], Any] | None = None,
) -> dict[str, Any]:
    """The groups of ``username`` and, with ``evaluate``, what the mapping would answer."""

    def run(provider: Any) -> dict[str, Any]:
        result = _lookup(provider, username, canonical, groups=True)
        identity = result.pop("_identity", None)
        result["preview"] = None
        if identity is not None and evaluate is not None:
            evaluation = evaluate(identity)
            result["preview"] = {
                "username": identity.username,
                "denied": evaluation.denied,
                "roles": list(evaluation.roles),
                "maxStorageMB": evaluation.max_storage_mb,
            }
        return result

    return _with_provider(config, run)


def oidc_discovery(config: Any, *, redirect_uri: Callable[[str], str] | None = None) -> dict[str, Any]:
    """The IdP's discovery fetched (the provider's health check reads it) and the redirect URI."""
    result = _with_provider(config, _health)
    provider_id = config.get("id") if isinstance(config, Mapping) else None
    result["redirectUri"] = (
        redirect_uri(provider_id) if redirect_uri and isinstance(provider_id, str) else None
    )
    return result


def _with_provider(config: Any, run: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    if not isinstance(config, Mapping):
        return _invalid([("provider", "must be a provider configuration (an object)")])
    try:
        kind, options = parse_section(dict(config), "request", "provider")
    except ConfigError as error:
        return _invalid([(problem.key, problem.message) for problem in error.errors])
    provider_id = options.pop("id")
    options.pop("type")
    context = BuildContext(
        canonical=lambda name: name.strip().lower() or None,
        engine=cast(Any, None),
        sessions=cast(Any, None),
        password_policy=cast(Any, None),
    )
    provider = build_provider(kind, provider_id, options, context).provider
    try:
        return {"provider": provider_id, "type": kind, **run(provider)}
    except Exception as error:  # a diagnostic reports, it never fails the page
        return {"provider": provider_id, "type": kind, "ok": False, "message": str(error)[:500]}
    finally:
        if isinstance(provider, Closable):
            provider.close()


def _health(provider: Any) -> dict[str, Any]:
    if not isinstance(provider, HealthCheck):
        return {"ok": False, "message": "this provider type has no connection check"}
    report = provider.check_health()
    return {"ok": report.healthy, "message": report.detail}


def _lookup(provider: Any, username: str, canonical: Canonical, *, groups: bool) -> dict[str, Any]:
    if not isinstance(provider, IdentityLookup):
        return {"ok": False, "message": "this provider type cannot look users up"}
    name = canonical(username)
    if name is None:
        return {"ok": False, "message": "not a username the Registry can hold"}
    found = provider.lookup(name)
    if isinstance(found, Rejection):
        return {"ok": False, "message": f"no entry found for {name!r} ({found.value})"}
    result: dict[str, Any] = {
        "ok": True,
        "message": f"found {found.username}",
        "entry": {"username": found.username, "subject": found.subject, "email": found.email},
    }
    if groups:
        result["groups"] = [{"name": group} for group in found.groups]
        result["_identity"] = found
    return result


def _invalid(problems: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "ok": False,
        "error": "invalid_config",
        "message": "the provider configuration is not valid",
        "problems": [{"field": field, "message": message} for field, message in problems],
    }
