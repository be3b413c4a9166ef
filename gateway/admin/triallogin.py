"""A trial login, step by step: what ``gateway ldap test`` prints and the admin API's
``POST /providers/{id}/test-login`` answers. The provider's steps are its own
(:class:`providers.base.TrialLogin`, offered by the types that can, LDAP today); the account
and mapping steps are the gateway's.

A trial records nothing (no session, no account claim, no audit, no throttle count: callers
that must throttle do so themselves) and never reports the password: the provider's notes name
servers, filters, DNs and groups only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.login.accounts import AccountRegistry
from gateway.login.answer import build_answer
from gateway.login.federation import Federation
from gateway.login.usernames import UsernamePolicy
from gateway.mapping import Evaluation, EvaluationMemo
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


class TrialLogins:
    """Trial logins at the configured providers that offer one (the LDAP ones)."""

    def __init__(
        self,
        federation: Federation,
        provider_ids: Sequence[str],
        usernames: UsernamePolicy,
        accounts: AccountRegistry,
        mapping: EvaluationMemo,
    ):
        self._federation = federation
        self._provider_ids = tuple(provider_ids)
        self._usernames = usernames
        self._accounts = accounts
        self._mapping = mapping

    def providers(self) -> list[TrialLogin]:
        """The configured providers that offer a trial login, in configured order."""
        found = (self._federation.provider(provider_id) for provider_id in self._provider_ids)
        return [provider for provider in found if isinstance(provider, TrialLogin)]

    def provider(self, provider_id: str) -> object | None:
        """The configured provider ``provider_id`` (of any type), or None."""
        return self._federation.provider(provider_id)

    def run(
        self,
        provider: TrialLogin,
        username: str,
        password: str,
        note: Note,
        *,
        exclusive_logs: bool = False,
    ) -> Trial:
        """Check ``username``/``password`` against ``provider`` as a login would, telling
        ``note`` each step. The provider's log records from this thread become notes too (and,
        with ``exclusive_logs``, only notes). ProviderUnavailable propagates."""
        canonical = self._usernames.canonical(username)
        if canonical != username:
            note(
                "username",
                self._usernames.advice(username, lead="Sign in as")
                + " The Registry's sign-in with this spelling is refused (401).",
            )
            return Trial("non_canonical", 401)
        owner = self._accounts.owner_of(username)
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
        evaluation = self._mapping.evaluate(result)
        if evaluation.denied:
            return Trial("denied", 403, result, evaluation)
        return Trial("success", 200, result, evaluation, build_answer(result.username, evaluation))
