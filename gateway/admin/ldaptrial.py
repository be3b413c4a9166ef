"""A trial login, step by step: what ``gateway ldap test`` prints and the admin API's
``POST /providers/{id}/test-login`` answers. The provider's steps are its own
(:class:`providers.base.TrialLogin`, offered by LDAP providers); the account and mapping steps
are the gateway's.

A trial records nothing (no session, no account claim, no audit, no throttle count: callers
that must throttle do so themselves) and never reports the password: the provider's notes name
servers, filters, DNs and groups only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.login.answer import build_answer
from gateway.mapping import Evaluation
from gateway.services import Services
from providers.base import Identity, Note, Rejection, TrialLogin


@dataclass(frozen=True)
class Trial:
    """How a trial login ended. ``outcome`` is ``success``, ``denied`` (a require rule),
    ``non_canonical``, ``username_mismatch`` or a :class:`Rejection` value;
    ``registry_status`` is what the Registry's login would get."""

    outcome: str
    registry_status: int
    identity: Identity | None = None
    evaluation: Evaluation | None = None
    answer: dict[str, Any] | None = None


def ldap_providers(services: Services) -> list[TrialLogin]:
    """The configured providers that offer a trial login (the LDAP ones), in configured order."""
    found = (services.federation.provider(s.id) for s in services.config.providers)
    return [provider for provider in found if isinstance(provider, TrialLogin)]


def trial_login(
    services: Services,
    provider: TrialLogin,
    username: str,
    password: str,
    note: Note,
    *,
    exclusive_logs: bool = False,
) -> Trial:
    """Check ``username``/``password`` against ``provider`` as a login would, telling ``note``
    each step. The provider's log records from this thread become notes too (and, with
    ``exclusive_logs``, only notes). ProviderUnavailable propagates."""
    canonical = services.config.usernames.canonical(username)
    if canonical != username:
        note(
            "username",
            f"{username!r} is not canonical (canonical form: {canonical!r}); "
            "the Registry's login would get 401",
        )
        return Trial("non_canonical", 401)
    owner = services.accounts.owner_of(username)
    if owner is not None and owner.provider != provider.id:
        note(
            "username",
            f"owned by provider {owner.provider!r}; the Registry's logins never "
            f"reach {provider.id!r} (checking it anyway)",
        )
    elif owner is not None and owner.disabled:
        note(
            "username",
            "disabled at the gateway: the Registry's login gets 403 whatever the "
            "directory says (checking it anyway)",
        )
    result = provider.trial_check(username, password, note, exclusive_logs=exclusive_logs)
    if isinstance(result, Rejection):
        status = 403 if result is Rejection.DISABLED else 401
        note("result", f"{result.value} -> the Registry's login gets {status}")
        return Trial(result.value, status)
    if result.username != username:
        note("result", f"the directory's username {result.username!r} differs from the typed one -> 401")
        return Trial("username_mismatch", 401)
    evaluation = services.mapping.evaluate(result)
    if evaluation.denied:
        return Trial("denied", 403, result, evaluation)
    return Trial("success", 200, result, evaluation, build_answer(result.username, evaluation))
