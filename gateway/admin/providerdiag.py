"""Diagnostics of a provider configuration, for an admin setting a directory or an IdP up:
reach each server, try a user search, show a user's groups and what the mapping would answer,
check an IdP's discovery. Flask-free; the admin API, the admin UI and the provider forms share
it.

A configuration is a ``providers[n]`` mapping (``id``, ``type`` and the type's options),
saved (the file's, or the database's) or posted from a form before it is saved; it is
validated by the type's own schema, and an invalid one is a structured error result, never an
exception. What a provider type can check is its catalog entry's ``diagnostics``
(:class:`providers.providertype.Diagnostics`), so nothing here knows a provider type by name.
A failing directory or IdP is a result (``ok: false`` and why); nothing secret (a bind
password, a client secret) is ever in a result.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.admin.errors import AdminError
from gateway.login.answer import build_answer
from gateway.mapping import Evaluation
from gateway.observe.audit import AuditLog
from gateway.storage.state import StateStore, StoreUnavailable
from providers.base import Identity
from providers.catalog import CATALOG, parse_section
from providers.providertype import Diagnostics
from providers.schema import ConfigError

log = logging.getLogger(__name__)

ACTIONS = ("connection", "search", "groups", "discovery")
MAX_USERNAME_CHARS = 256
# Diagnostics open connections to servers an admin names: a few a minute per admin is plenty.
RATE_PER_MINUTE = 30
_SOURCE = "request"

Canonical = Callable[[str], str | None]
Evaluate = Callable[[Identity], Evaluation]


def _as_typed(username: str) -> str | None:
    return username


@dataclass(frozen=True)
class Validated:
    """A provider configuration already validated by its type's schema (a saved provider's):
    its ``kind`` (type), ``provider_id`` and ``options`` (without ``id`` and ``type``)."""

    kind: str
    provider_id: str
    options: Mapping[str, Any]


def parse_config(config: Any) -> tuple[str, str, dict[str, Any]] | dict[str, Any]:
    """``(type, id, options)`` of a provider configuration validated by its type's schema
    (options without ``id`` and ``type``), or the error result naming every faulty key:
    ``{ok: false, error: "invalid_config", problems: [{field, message}]}``. A
    :class:`Validated` one is taken as it is."""
    if isinstance(config, Validated):
        return config.kind, config.provider_id, dict(config.options)
    if not isinstance(config, Mapping):
        return _invalid([("provider", "must be a provider configuration (an object)")])
    try:
        kind, options = parse_section(dict(config), _SOURCE, "provider")
    except ConfigError as error:
        return _invalid([(problem.key, problem.message) for problem in error.errors])
    provider_id = options.pop("id")
    options.pop("type")
    return kind, provider_id, options


def test_connection(config: Any) -> dict[str, Any]:
    """Reach the provider's backend: for a directory each server of the failover list
    (DNS, TCP, TLS and its certificate, the service bind, the user base), for an IdP its
    discovery (as :func:`oidc_discovery`)."""
    parsed = _diagnostic(config, "connection")
    if isinstance(parsed, dict):
        return parsed
    kind, provider_id, options, connection = parsed
    return _timed(kind, provider_id, lambda: connection(provider_id, options))


def search_user(config: Any, username: str, *, canonical: Canonical = _as_typed) -> dict[str, Any]:
    """The user search a login of ``username`` would send (the filter, escaped once; base;
    scope) and the entry found with the attributes a login reads. Never binds as the user."""
    parsed = _diagnostic(config, "search")
    if isinstance(parsed, dict):
        return parsed
    kind, provider_id, options, search = parsed
    return _timed(kind, provider_id, lambda: search(provider_id, options, canonical, username))


def show_groups(
    config: Any,
    username: str,
    *,
    canonical: Canonical = _as_typed,
    evaluate: Evaluate | None = None,
) -> dict[str, Any]:
    """The groups a login of ``username`` would find, each with the strategy and nesting that
    found it, and ``preview``: what the mapping (``evaluate``, the policy in force) would answer
    for that user, or None when no user was found (or no ``evaluate`` was given)."""
    parsed = _diagnostic(config, "groups")
    if isinstance(parsed, dict):
        return parsed
    kind, provider_id, options, groups = parsed
    found: list[Identity | None] = [None]

    def run() -> dict[str, Any]:
        result, found[0] = groups(provider_id, options, canonical, username)
        return result

    result = _timed(kind, provider_id, run)
    identity = found[0]
    try:
        result["preview"] = preview(identity, evaluate) if identity is not None and evaluate else None
    except Exception as error:  # an answer the contract refuses: the login would fail the same way
        log.warning("mapping preview for %s failed: %s", provider_id, type(error).__name__)
        result["preview"] = {"error": f"the mapping's answer could not be built ({type(error).__name__})"}
    return result


def oidc_discovery(
    config: Any,
    *,
    redirect_uri: Callable[[str], str] | None = None,
    backchannel_logout_uri: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The IdP's discovery document fetched and checked (issuer, endpoints, JWKS and its keys,
    algorithms, response types, PKCE, client authentication, scopes), with the redirect URI
    the IdP must have registered for this gateway (``redirect_uri(provider_id)``) and, when the
    provider has back-channel logout enabled, the logout URI to register there."""
    parsed = _diagnostic(config, "discovery")
    if isinstance(parsed, dict):
        return parsed
    kind, provider_id, options, discovery = parsed
    result = _timed(kind, provider_id, lambda: discovery(provider_id, options))
    result["redirectUri"] = redirect_uri(provider_id) if redirect_uri else None
    enabled = bool((options.get("backchannel_logout") or {}).get("enabled"))
    result["backchannelLogoutUri"] = (
        backchannel_logout_uri(provider_id) if enabled and backchannel_logout_uri else None
    )
    return result


def preview(identity: Identity, evaluate: Evaluate) -> dict[str, Any]:
    """What the mapping gives ``identity``: ``{denied, denyReason, roles, maxStorageMB,
    answer}`` (``answer`` is the Registry's JSON object, None when denied)."""
    evaluation = evaluate(identity)
    return {
        "username": identity.username,
        "groups": list(identity.groups),
        "denied": evaluation.denied,
        "denyReason": evaluation.deny_reason,
        "roles": list(evaluation.roles),
        "maxStorageMB": evaluation.max_storage_mb,
        "answer": None if evaluation.denied else build_answer(identity.username, evaluation),
    }


def offered_actions(kind: str) -> list[str]:
    """The diagnostic actions a provider type offers (in :data:`ACTIONS` order)."""
    checks = CATALOG[kind].diagnostics if kind in CATALOG else None
    if checks is None:
        return []
    return [action for action in ACTIONS if _check(checks, action) is not None]


class ProviderDiagnostics:
    """The diagnostics as the admin API and UI run them: on a posted configuration or a saved
    provider's, for an admin, rate-limited per admin, audited (the action, the provider, the
    outcome; never a configuration or a secret)."""

    def __init__(
        self,
        *,
        saved: Callable[[str], Validated | None],
        canonical: Canonical,
        evaluate: Evaluate,
        redirect_uri: Callable[[str], str],
        audit: AuditLog,
        backchannel_logout_uri: Callable[[str], str] | None = None,
        store: StateStore | None = None,
        clock: Callable[[], float] = time.time,
    ):
        """``saved(id)`` is the saved provider's validated configuration, or None for an
        unknown id."""
        self._saved = saved
        self._canonical = canonical
        self._evaluate = evaluate
        self._redirect_uri = redirect_uri
        self._backchannel_logout_uri = backchannel_logout_uri
        self._audit = audit
        self._store = store
        self._clock = clock

    def diagnose(self, provider: Any, action: Any, username: Any = None, *, actor: str) -> dict[str, Any]:
        """Run ``action`` (one of :data:`ACTIONS`) on ``provider``: a configuration, or
        ``{"id": saved id}``. 400 for a bad action, a missing or unusable username, an action
        the provider's type does not offer; 404 for an unknown saved id; 429 past the rate.
        An invalid configuration is a result (``error: invalid_config``)."""
        if action not in ACTIONS:
            raise AdminError(400, f"action: must be one of {', '.join(ACTIONS)}", "action")
        config = self.resolve(provider)
        needs_user = action in ("search", "groups")
        if needs_user:
            username = _username(username)
        self._limit(actor)
        if action == "connection":
            result = test_connection(config)
        elif action == "discovery":
            result = self.oidc_discovery(config)
        elif action == "search":
            result = self.search_user(config, username)
        else:
            result = self.show_groups(config, username)
        if result.get("error") == "not_offered":
            raise AdminError(400, result["message"], "action")
        self._audit.record(
            "provider_diagnostic",
            "ok" if result.get("ok") else "failed",
            username=username[:127] if needs_user else None,
            provider=str(result.get("provider") or "")[:64] or None,
            actor=actor,
            action=action,
            saved=isinstance(provider, Mapping) and set(provider) == {"id"},
        )
        return result

    def resolve(self, provider: Any) -> Mapping[str, Any] | Validated:
        """The configuration ``provider`` stands for: itself, or the saved one of
        ``{"id": ...}`` (404 when there is none)."""
        if isinstance(provider, Mapping) and set(provider) == {"id"}:
            provider_id = provider["id"]
            found = self._saved(provider_id) if isinstance(provider_id, str) else None
            if found is None:
                raise AdminError(404, f"no provider {provider_id!r}", "provider")
            return found
        if not isinstance(provider, Mapping):
            raise AdminError(400, 'provider: must be a provider configuration or {"id": ...}', "provider")
        return provider

    def test_connection(self, config: Any) -> dict[str, Any]:
        return test_connection(config)

    def search_user(self, config: Any, username: str) -> dict[str, Any]:
        return search_user(config, username, canonical=self._canonical_or_typed)

    def show_groups(self, config: Any, username: str) -> dict[str, Any]:
        return show_groups(config, username, canonical=self._canonical_or_typed, evaluate=self._evaluate)

    def oidc_discovery(self, config: Any) -> dict[str, Any]:
        return oidc_discovery(
            config, redirect_uri=self._redirect_uri, backchannel_logout_uri=self._backchannel_logout_uri
        )

    def _canonical_or_typed(self, username: str) -> str | None:
        return self._canonical(username)

    def _limit(self, actor: str) -> None:
        if self._store is None:
            return
        now = self._clock()
        window = int(now // 60)
        try:
            count = self._store.incr(f"providerdiag:{actor}:{window}", 120)
        except StoreUnavailable:
            return  # a diagnostic is worth more than the limit when the store is down
        if count > RATE_PER_MINUTE:
            raise AdminError(
                429,
                "too many diagnostics in a minute; try again shortly",
                retry_after=max(1, math.ceil((window + 1) * 60 - now)),
            )


# -- internals -----------------------------------------------------------------------------------


def _invalid(problems: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "ok": False,
        "error": "invalid_config",
        "message": "the provider configuration is not valid",
        "problems": [{"field": field, "message": message} for field, message in problems],
    }


def _check(checks: Diagnostics, action: str) -> Any:
    return {
        "connection": checks.connection,
        "search": checks.search,
        "groups": checks.groups,
        "discovery": checks.discovery,
    }[action]


def _diagnostic(config: Any, action: str) -> tuple[str, str, dict[str, Any], Any] | dict[str, Any]:
    """``(type, id, options, the type's check for action)``, or the error result: the
    configuration is invalid, or its type offers no such diagnostic."""
    parsed = parse_config(config)
    if isinstance(parsed, dict):
        return parsed
    kind, provider_id, options = parsed
    checks = CATALOG[kind].diagnostics
    check = _check(checks, action) if checks is not None else None
    if check is None:
        offered = ", ".join(offered_actions(kind)) or "none"
        return {
            "ok": False,
            "error": "not_offered",
            "provider": provider_id,
            "message": f"a {kind} provider offers no {action!r} diagnostic (offered: {offered})",
        }
    return kind, provider_id, options, check


def _timed(kind: str, provider_id: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    started = time.monotonic()
    try:
        result = run()
    except Exception as error:
        # A backend's failure is already a result; this is a bug, still no 500 for the admin.
        log.exception("provider diagnostic of %s failed", provider_id)
        result = {"ok": False, "error": "diagnostic_failed", "message": type(error).__name__}
    return {
        "provider": provider_id,
        **result,
        "type": kind,
        "tookMs": round((time.monotonic() - started) * 1000),
    }


def _username(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AdminError(400, "username: enter the username to look up", "username")
    if len(value) > MAX_USERNAME_CHARS or "\x00" in value:
        raise AdminError(400, f"username: at most {MAX_USERNAME_CHARS} characters, no NUL", "username")
    return value.strip()
