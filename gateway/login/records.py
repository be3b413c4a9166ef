"""How the login service records an outcome, once: the ways in as the records name them, the
attempt (log line and metrics), the audit row of a sign-in or a refusal, the last sign-in per
way in, and the sign-in listeners."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.login.lastsignin import NO_CLIENT, Client, LastSignIns
from gateway.login.outcome import Refused, Unavailable
from gateway.mapping import Evaluation
from gateway.observe.attempts import AttemptRecorder
from gateway.observe.audit import AuditLog
from providers.base import Identity

# Told of each sign-in (not of cache hits) after it is granted; see
# LoginService.add_sign_in_listener.
SignInListener = Callable[[Identity, Evaluation], None]


@dataclass(frozen=True)
class Way:
    """A way in as the records name it: ``attempt_path`` in the attempt log and metrics,
    ``audit_path`` in audit rows, the HTTP status of a grant there, and ``signin_path`` its
    last sign-in row (:data:`gateway.login.lastsignin.PATHS`)."""

    attempt_path: str
    audit_path: str
    granted_status: int
    signin_path: str


REGISTRY_PASSWORD = Way("password", "password", 200, "registry_password")
REGISTRY_TOKEN = Way("token", "token", 200, "registry_token")
BROWSER_PASSWORD = Way("browser_password", "browser_password", 303, "browser")
ADMIN_API_PASSWORD = Way("admin_token", "api_token", 200, "admin_api")
SSO_CALLBACK = Way("sso", "sso", 302, "browser")


class OutcomeRecords:
    """Writes the records of one outcome; the login service calls it once per outcome."""

    def __init__(self, audit: AuditLog, attempts: AttemptRecorder, last_sign_ins: LastSignIns | None):
        self._audit = audit
        self._attempts = attempts
        self._last_sign_ins = last_sign_ins
        self.listeners: list[SignInListener] = []

    def grant(
        self,
        way: Way,
        identity: Identity,
        evaluation: Evaluation,
        started: float,
        *,
        audit: bool,
        factor: str | None = None,
        client: Client = NO_CLIENT,
        signin_path: str | None = None,
    ) -> None:
        if self._last_sign_ins is not None:
            self._last_sign_ins.record(identity.username, signin_path or way.signin_path, client)
        if audit:
            for listener in self.listeners:
                listener(identity, evaluation)
            extra = {"factor": factor} if factor else {}
            self._audit.record(
                "login",
                "success",
                username=identity.username,
                provider=identity.provider,
                path=way.audit_path,
                **extra,
            )
        self._attempts.record(
            way.attempt_path, identity.username, identity.provider, way.granted_status, "success", started
        )

    def refused(
        self,
        way: Way,
        username: str | None,
        provider: str | None,
        status: int,
        reason: str,
        started: float,
        cause: Exception | None = None,
    ) -> Refused:
        self._audit.record(
            "login", "denied", username=username, provider=provider, path=way.audit_path, reason=reason
        )
        self._attempts.record(way.attempt_path, username, provider, status, reason, started)
        return Refused(status, reason, cause)

    def unavailable(self, way: Way, username: str | None, outage: Exception, started: float) -> Unavailable:
        provider = getattr(outage, "provider_id", None)
        self._attempts.record(way.attempt_path, username, provider, 503, "unavailable", started)
        return Unavailable(outage)
