"""One record per authentication attempt: a JSON log line and the Prometheus counters.

Every way in (the Registry's password and token paths, the SSO callback, the browser's
sign-in form, ``POST /api/token``) reports its attempts here, so the log and the metrics
always agree. The log line names the user as typed (at most 127 characters), the provider,
the detailed outcome and its class, and the duration; never a password, token or hash.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from gateway.observe.logs import AuthEvents
from gateway.observe.metrics import AuthMetrics, outcome_class

# One writer thread per process for every attempt line.
_EVENTS = AuthEvents()


class AttemptRecorder:
    def __init__(self, provider_ids: Iterable[str], events: AuthEvents = _EVENTS):
        self._metrics = AuthMetrics(provider_ids)
        self._events = events

    def use_providers(self, provider_ids: Iterable[str]) -> None:
        """Label attempts with these provider ids from now on (the provider set changed)."""
        self._metrics = AuthMetrics(provider_ids)

    def record(
        self, path: str, username: str | None, provider: str | None, status: int, outcome: str, started: float
    ) -> None:
        """Record an attempt on ``path`` answered with HTTP ``status``; ``outcome`` is the
        detailed reason (``success``, ``wrong_credentials``, ``token_expired``…) and
        ``started`` its ``time.perf_counter()`` start."""
        seconds = time.perf_counter() - started
        outcome_kind = outcome_class(status)
        self._metrics.attempt(path, provider, outcome_kind, seconds)
        self._events.record(
            auth_user=(username or "?")[:127],
            auth_provider=provider,
            auth_path=path,
            auth_outcome=outcome,
            auth_class=outcome_kind,
            duration_ms=round(seconds * 1000, 2),
        )
