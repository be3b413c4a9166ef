"""The one login service: every way in is a thin adapter over it.

Ways in: the Registry's password path and token path (``POST /api/authenticate``), the
browser's sign-in form (``/login``), the admin API's ``POST /api/token`` and the SSO callback.
Each method here verifies what its way in brings, applies the mapping's ``require`` gate, and
answers an :data:`~gateway.login.outcome.Outcome` it has already recorded, once:

* every outcome: one attempt (a JSON log line and the Prometheus counters, :mod:`gateway.observe.attempts`);
* a refusal: one ``login denied`` audit row;
* a grant: one ``login success`` audit row when it is a sign-in (credentials verified, or a
  session opened), and the sign-in listeners told (:meth:`LoginService.add_sign_in_listener`).
  A login answered from the verified-credentials cache, or with a token of a session already
  open, is an attempt like any other but not a new sign-in: a map view would write hundreds of
  audit rows a second;
* a throttled or unavailable attempt: the attempt only (nobody was decided about).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from gateway.login.apppasswords import looks_like_app_password
from gateway.login.federation import Denied, Federation
from gateway.login.idptokens import IdpTokens
from gateway.login.outcome import Granted, Outcome, PasswordChangeRequired, Refused, Throttled, Unavailable
from gateway.login.password import PasswordCheck
from gateway.login.throttle import Throttled as ThrottledAccount
from gateway.mapping import Evaluation, EvaluationMemo
from gateway.observe.attempts import AttemptRecorder
from gateway.observe.audit import AuditLog
from gateway.observe.metrics import count_token
from gateway.sso.service import NOT_ALLOWED, FinishedCallback, SsoError, SsoService
from gateway.sso.sessions import SessionStore
from gateway.storage.db import UNAVAILABLE_ERRORS
from gateway.storage.state import StoreUnavailable
from gateway.tokens import InvalidToken, TokenService
from providers.base import (
    MAX_TOKEN_LENGTH,
    MUST_CHANGE_PASSWORD,
    Identity,
    LoginRejected,
    ProviderUnavailable,
)

# Told of each sign-in (not of cache hits) after it is granted; see add_sign_in_listener.
SignInListener = Callable[[Identity, Evaluation], None]

# What makes any login a 503: a provider, the shared state store or the database.
OUTAGES = (ProviderUnavailable, StoreUnavailable, *UNAVAILABLE_ERRORS)


@dataclass(frozen=True)
class Way:
    """A way in as the records name it: ``attempt_path`` in the attempt log and metrics,
    ``audit_path`` in audit rows, and the HTTP status of a grant there."""

    attempt_path: str
    audit_path: str
    granted_status: int


REGISTRY_PASSWORD = Way("password", "password", 200)
REGISTRY_TOKEN = Way("token", "token", 200)
BROWSER_PASSWORD = Way("browser_password", "browser_password", 303)
ADMIN_API_PASSWORD = Way("admin_token", "api_token", 200)
SSO_CALLBACK = Way("sso", "sso", 302)


class LoginService:
    def __init__(
        self,
        federation: Federation,
        passwords: PasswordCheck,
        mapping: EvaluationMemo,
        tokens: TokenService,
        sessions: SessionStore,
        idp_tokens: IdpTokens,
        sso: SsoService,
        audit: AuditLog,
        attempts: AttemptRecorder,
    ):
        """``tokens`` are the Registry's (the token path's); ``sso`` opens the sessions of the
        ways in that sign a browser or an admin API client in."""
        self._federation = federation
        self._passwords = passwords
        self._mapping = mapping
        self._tokens = tokens
        self._sessions = sessions
        self._idp_tokens = idp_tokens
        self._sso = sso
        self._audit = audit
        self._attempts = attempts
        self._sign_in_listeners: list[SignInListener] = []

    def add_sign_in_listener(self, listener: SignInListener) -> None:
        """Call ``listener(identity, evaluation)`` after every granted sign-in (credentials
        verified or a session opened; never a credential-cache hit or an open session's
        token). It runs on the login path, so it must be quick and must not raise."""
        self._sign_in_listeners.append(listener)

    def malformed(self, username: str | None, status: int, started: float) -> None:
        """Record a Registry request refused for its shape (400/415) before any login."""
        self._attempts.record(REGISTRY_PASSWORD.attempt_path, username, None, status, "bad_request", started)

    def registry_password(self, username: str, password: str, started: float) -> Outcome:
        """The Registry's password path (``started``: the request's ``time.perf_counter()``)."""
        return self._guarded(
            REGISTRY_PASSWORD, username, started, lambda: self._registry_password(username, password, started)
        )

    def _registry_password(self, username: str, password: str, started: float) -> Outcome:
        identity, from_cache = self._passwords.verify_for_registry(username, password)
        if identity.attributes.get(MUST_CHANGE_PASSWORD):
            return self._must_change(REGISTRY_PASSWORD, identity, started)
        return self._granted(REGISTRY_PASSWORD, identity, username, started, audit=not from_cache)

    def registry_token(self, token: str, started: float) -> Outcome:
        """The Registry's token path: a gateway token of an open session, or an IdP's token."""
        return self._guarded(REGISTRY_TOKEN, None, started, lambda: self._registry_token(token, started))

    def _registry_token(self, token: str, started: float) -> Outcome:
        username = "?"  # until a gateway token says whose it is
        try:
            if len(token) > MAX_TOKEN_LENGTH:
                raise Denied(401, "token_too_long")
            try:
                verified = self._tokens.verify(token.strip())
            except InvalidToken as invalid:
                # Not ours by its typ (or not a JWT at all): an IdP's token, if any IdP takes them.
                if invalid.reason in ("bad_typ", "malformed") and self._idp_tokens.enabled:
                    identity = self._idp_identity(token.strip())
                    count_token("idp", "valid")
                    return self._granted(REGISTRY_TOKEN, identity, username, started, audit=False)
                count_token("gateway", invalid.reason)
                raise Denied(401, f"token_{invalid.reason}") from None
            username = verified.username
            session = self._sessions.get_active(verified.session_id)
            if session is None or session.username != verified.username:
                count_token("gateway", "session_ended")
                raise Denied(401, "session_ended")
            count_token("gateway", "valid")
            return self._granted(REGISTRY_TOKEN, session.identity, username, started, audit=False)
        except Denied as denied:
            return self._refused(REGISTRY_TOKEN, username, None, denied.status, denied.reason, started)

    def _idp_identity(self, token: str) -> Identity:
        try:
            identity = self._idp_tokens.identity(token)
        except LoginRejected as rejected:
            count_token("idp", rejected.reason)
            raise Denied(403 if rejected.status == 403 else 401, f"idp_token_{rejected.reason}") from None
        return self._federation.admit(identity)

    def browser_password(self, username: str, password: str, started: float) -> Outcome:
        """The browser's sign-in form: a full password verification (never an app password),
        then a gateway session (:attr:`Granted.session`)."""
        if looks_like_app_password(password):
            return self._refused(BROWSER_PASSWORD, username, None, 401, "app_password_in_browser", started)
        return self._guarded(
            BROWSER_PASSWORD,
            username,
            started,
            lambda: self._with_session(BROWSER_PASSWORD, username, password, started),
        )

    def admin_api_password(self, username: str, password: str, started: float) -> Outcome:
        """``POST /api/token`` with a password: as :meth:`browser_password`; an app password is
        refused (one must not turn into a session that can create further secrets)."""
        if looks_like_app_password(password):
            return self._refused(
                ADMIN_API_PASSWORD, username, None, 401, "app_password_for_admin_api", started
            )
        return self._guarded(
            ADMIN_API_PASSWORD,
            username,
            started,
            lambda: self._with_session(ADMIN_API_PASSWORD, username, password, started),
        )

    def _with_session(self, way: Way, username: str, password: str, started: float) -> Outcome:
        identity = self._passwords.verify(username, password)
        if identity.attributes.get(MUST_CHANGE_PASSWORD):
            return self._must_change(way, identity, started)
        return self._granted(way, identity, username, started, audit=True, open_session=True)

    def _must_change(self, way: Way, identity: Identity, started: float) -> Refused:
        """A right but temporary password: refused (403) everywhere, no session opened; the
        browser's sign-in form sends the person on to choose their own password."""
        return self._refused(
            way,
            identity.username,
            identity.provider,
            403,
            "must_change_password",
            started,
            PasswordChangeRequired(identity.username),
        )

    def sso_callback(
        self, provider_id: str, params: dict[str, str], sealed: str | None, started: float
    ) -> Outcome:
        """The SSO callback: the transaction and the IdP's answer (:meth:`SsoService.complete`),
        then admission, the ``require`` gate, the session and the Registry token minted for it
        (:attr:`Granted.token`). A refusal carries the SsoError its page is made from as
        :attr:`Refused.cause`; an unreachable IdP is Unavailable with that SsoError (503)."""
        try:
            finished = self._sso.complete(provider_id, params, sealed)
        except SsoError as error:
            if error.status == 503:
                # Named as every other outage is, whichever part was unreachable.
                self._attempts.record(
                    SSO_CALLBACK.attempt_path, None, provider_id, 503, "unavailable", started
                )
                return Unavailable(error)
            if error.refused_by_idp:
                return self._refused(
                    SSO_CALLBACK, None, provider_id, error.status, error.reason, started, error
                )
            # The transaction, not the person, is at fault: nobody to audit.
            self._attempts.record(
                SSO_CALLBACK.attempt_path, None, provider_id, error.status, error.reason, started
            )
            return Refused(error.status, error.reason, error)
        except OUTAGES as outage:
            return self._unavailable(SSO_CALLBACK, None, outage, started)
        return self._guarded(
            SSO_CALLBACK,
            finished.identity.username,
            started,
            lambda: self._sso_session(finished, started),
            provider=provider_id,
            cause=_sso_refusal,
        )

    def _sso_session(self, finished: FinishedCallback, started: float) -> Outcome:
        identity = self._federation.admit(finished.identity)
        evaluation = self._mapping.evaluate(identity)
        if evaluation.denied:
            raise Denied(403, "mapping_require_failed")
        session = self._sso.open_sso_session(identity, finished.id_token)
        if session is None:  # disabled while this login was under way
            raise Denied(403, "account_disabled")
        token = self._sso.mint_for(session)
        self._record_grant(SSO_CALLBACK, identity, evaluation, started, audit=True)
        return Granted(identity, evaluation, session, finished.next_url, token)

    # -- recording ----------------------------------------------------------------------------

    def _guarded(
        self,
        way: Way,
        username: str | None,
        started: float,
        login: Callable[[], Outcome],
        *,
        provider: str | None = None,
        cause: Callable[[Denied], Exception | None] = lambda denied: None,
    ) -> Outcome:
        """``login()``, with its Denied, a throttle and an outage turned into recorded
        outcomes; a refusal names ``provider`` when the way in already knows it, and gets from
        ``cause`` the exception its way in answers with."""
        try:
            return login()
        except ThrottledAccount as throttled:
            self._attempts.record(way.attempt_path, username, None, 429, "throttled", started)
            return Throttled(math.ceil(throttled.wait_seconds))
        except Denied as denied:
            return self._refused(
                way, username, provider, denied.status, denied.reason, started, cause(denied)
            )
        except OUTAGES as outage:
            return self._unavailable(way, username, outage, started)

    def _granted(
        self,
        way: Way,
        identity: Identity,
        typed: str | None,
        started: float,
        *,
        audit: bool,
        open_session: bool = False,
    ) -> Outcome:
        """The ``require`` gate on ``identity``, then the grant recorded (``typed``: the
        username as the caller gave it, for a refusal's records)."""
        evaluation = self._mapping.evaluate(identity)
        if evaluation.denied:
            return self._refused(way, typed, identity.provider, 403, "mapping_require_failed", started)
        session = self._sso.open_session(identity) if open_session else None
        self._record_grant(way, identity, evaluation, started, audit=audit)
        return Granted(identity, evaluation, session)

    def _record_grant(
        self, way: Way, identity: Identity, evaluation: Evaluation, started: float, *, audit: bool
    ) -> None:
        if audit:
            for listener in self._sign_in_listeners:
                listener(identity, evaluation)
            self._audit.record(
                "login",
                "success",
                username=identity.username,
                provider=identity.provider,
                path=way.audit_path,
            )
        self._attempts.record(
            way.attempt_path, identity.username, identity.provider, way.granted_status, "success", started
        )

    def _refused(
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

    def _unavailable(self, way: Way, username: str | None, outage: Exception, started: float) -> Unavailable:
        provider = getattr(outage, "provider_id", None)
        self._attempts.record(way.attempt_path, username, provider, 503, "unavailable", started)
        return Unavailable(outage)


def _sso_refusal(denied: Denied) -> Exception:
    """The page a person refused at the SSO callback sees."""
    return SsoError(denied.status, denied.reason, NOT_ALLOWED)
