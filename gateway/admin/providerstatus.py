"""How the identity providers are doing, and a trial LDAP login for admins.

The status check is :func:`gateway.observe.health.provider_status`, asked afresh. A trial
login is throttled exactly like a login of the same account, so it cannot serve as a password
oracle that bypasses the login throttle.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from gateway.admin.errors import AdminError
from gateway.admin.triallogin import TrialLogins
from gateway.login.throttle import AccountThrottle, Throttled
from gateway.observe.audit import AuditLog
from providers.base import ProviderUnavailable, Rejection, TrialLogin

# Outcomes that count against the account like a failed login (a right password never does).
_FAILURES = {Rejection.WRONG_CREDENTIALS.value, Rejection.NO_SUCH_USER.value, "username_mismatch"}


class ProviderAdmin:
    """The providers page's two operations: their status, and a throttled, audited trial login."""

    def __init__(
        self,
        status: Callable[[], list[dict[str, Any]]],
        trials: TrialLogins,
        throttle: AccountThrottle,
        audit: AuditLog,
    ):
        """``status`` checks every configured provider now (see
        :func:`gateway.observe.health.provider_status`)."""
        self._status = status
        self._trials = trials
        self._throttle = throttle
        self._audit = audit

    def status(self) -> list[dict[str, Any]]:
        """Each configured provider's health, checked now."""
        return self._status()

    def test_login(
        self, provider_id: str, username: str, password: str, *, actor: str | None = None
    ) -> dict[str, Any]:
        """A trial login of ``username`` at the LDAP provider ``provider_id``: ``outcome``,
        ``registryStatus``, the ``steps`` taken and, on success, the Registry's ``answer``.
        404 for an unknown provider, 400 for one that is not LDAP, 429 while the account is
        throttled. The password never appears in the steps. Audited with ``actor``."""
        provider = self._trials.provider(provider_id)
        if provider is None:
            raise AdminError(404, f"no provider {provider_id!r}")
        if not isinstance(provider, TrialLogin):
            raise AdminError(
                400,
                f"provider {provider_id!r} is not an LDAP provider; a trial login is for LDAP providers only",
                "provider",
            )
        try:
            attempt = self._throttle.attempt(username)
        except Throttled as throttled:
            raise AdminError(
                429,
                "too many failed attempts for this account; try again later",
                retry_after=math.ceil(throttled.wait_seconds),
            ) from None
        steps: list[dict[str, str]] = []

        def note(step: str, detail: str) -> None:
            steps.append({"step": step, "detail": _without(detail, password)})

        with attempt:
            try:
                trial = self._trials.run(provider, username, password, note)
            except ProviderUnavailable as error:
                note("error", error.reason)
                outcome, registry_status, answer = "unavailable", 503, None
            else:
                outcome, registry_status, answer = trial.outcome, trial.registry_status, trial.answer
                if outcome in _FAILURES:
                    attempt.failed()
                elif trial.identity is not None:
                    attempt.succeeded()
        self._audit.record(
            "provider_test_login", outcome, username=username[:127], provider=provider_id, actor=actor
        )
        return {"outcome": outcome, "registryStatus": registry_status, "steps": steps, "answer": answer}


def _without(text: str, password: str) -> str:
    """``text`` with the password blanked out, should any step ever echo it."""
    return text.replace(password, "[password]") if password else text
