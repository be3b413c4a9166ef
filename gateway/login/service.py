"""The one login service: every way in is a thin adapter over it.

Ways in: the Registry's password path and token path (``POST /api/authenticate``), the
browser's sign-in form (``/login``), the admin API's ``POST /api/token`` and the SSO callback.
Each method here verifies what its way in brings, applies the mapping's ``require`` gate, and
answers an :data:`~gateway.login.outcome.Outcome` it has already recorded, once
(:class:`~gateway.login.records.OutcomeRecords` writes the records):

* every outcome: one attempt (a JSON log line and the Prometheus counters, :mod:`gateway.observe.attempts`);
* a refusal: one ``login denied`` audit row;
* a grant: one ``login success`` audit row when it is a sign-in (credentials verified, or a
  session opened), and the sign-in listeners told (:meth:`LoginService.add_sign_in_listener`).
  A login answered from the verified-credentials cache, or with a token of a session already
  open, is an attempt like any other but not a new sign-in: a map view would write hundreds of
  audit rows a second;
* every grant, cache hits and open sessions' tokens too: the user's last sign-in on that path
  (time, client address, user agent), coalesced in memory by
  :class:`~gateway.login.lastsignin.LastSignIns` so the tile hot path writes at most once a
  minute per user and worker process;
* a throttled or unavailable attempt: the attempt only (nobody was decided about).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

from gateway.login.apppasswords import looks_like_app_password
from gateway.login.federation import Denied, Federation
from gateway.login.idptokens import IdpTokens
from gateway.login.lastsignin import NO_CLIENT, Client, LastSignIns
from gateway.login.outcome import (
    Granted,
    Outcome,
    PasswordChangeRequired,
    PasswordOutcome,
    Refused,
    SecondFactor,
    Throttled,
    Unavailable,
)
from gateway.login.password import PasswordCheck
from gateway.login.records import (
    ADMIN_API_PASSWORD,
    BROWSER_PASSWORD,
    REGISTRY_PASSWORD,
    REGISTRY_TOKEN,
    SSO_CALLBACK,
    OutcomeRecords,
    SignInListener,
    Way,
)
from gateway.login.refusals import SECOND_FACTOR_ENROL_FIRST, SECOND_FACTOR_MISSING
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

# What a way in's login answers before _guarded adds the refusals it records.
_O = TypeVar("_O", bound=PasswordOutcome)

# Asked after a password is verified on a way in that opens a session: "verify" or "enrol"
# when a second factor must come first (gateway.mfa.service.MfaService.need), else None.
SecondFactorPolicy = Callable[[str, Evaluation], str | None]
# Checks a second factor's code for a username: returns when it is accepted, raises Denied
# (or the throttle's Throttled) when not.
CodeCheck = Callable[[str, str], None]

# What makes any login a 503: a provider, the shared state store or the database.
OUTAGES = (ProviderUnavailable, StoreUnavailable, *UNAVAILABLE_ERRORS)


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
        second_factor: SecondFactorPolicy | None = None,
        last_sign_ins: LastSignIns | None = None,
    ):
        """``tokens`` are the Registry's (the token path's); ``sso`` opens the sessions of the
        ways in that sign a browser or an admin API client in; ``second_factor`` says when a
        password sign-in that opens a session needs a second factor first; ``last_sign_ins``
        remembers each user's last sign-in per path (none: not recorded)."""
        self._federation = federation
        self._passwords = passwords
        self._mapping = mapping
        self._tokens = tokens
        self._sessions = sessions
        self._idp_tokens = idp_tokens
        self._sso = sso
        self._attempts = attempts
        self._records = OutcomeRecords(audit, attempts, last_sign_ins)
        self._second_factor = second_factor

    def add_sign_in_listener(self, listener: SignInListener) -> None:
        """Call ``listener(identity, evaluation)`` after every granted sign-in (credentials
        verified or a session opened; never a credential-cache hit or an open session's
        token). It runs on the login path, so it must be quick and must not raise."""
        self._records.listeners.append(listener)

    def malformed(self, username: str | None, status: int, started: float) -> None:
        """Record a Registry request refused for its shape (400/415) before any login."""
        self._attempts.record(REGISTRY_PASSWORD.attempt_path, username, None, status, "bad_request", started)

    def registry_password(
        self, username: str, password: str, started: float, client: Client = NO_CLIENT
    ) -> Outcome:
        """The Registry's password path (``started``: the request's ``time.perf_counter()``;
        ``client``: who sent it, for the last sign-in)."""
        return self._guarded(
            REGISTRY_PASSWORD,
            username,
            started,
            lambda: self._registry_password(username, password, started, client),
        )

    def _registry_password(self, username: str, password: str, started: float, client: Client) -> Outcome:
        identity, from_cache = self._passwords.verify_for_registry(username, password)
        if identity.attributes.get(MUST_CHANGE_PASSWORD):
            return self._must_change(REGISTRY_PASSWORD, identity, started)
        path = "app_password" if looks_like_app_password(password) else REGISTRY_PASSWORD.signin_path
        return self._granted(
            REGISTRY_PASSWORD,
            identity,
            username,
            started,
            audit=not from_cache,
            client=client,
            signin_path=path,
        )

    def registry_token(self, token: str, started: float, client: Client = NO_CLIENT) -> Outcome:
        """The Registry's token path: a gateway token of an open session, or an IdP's token."""
        return self._guarded(
            REGISTRY_TOKEN, None, started, lambda: self._registry_token(token, started, client)
        )

    def _registry_token(self, token: str, started: float, client: Client) -> Outcome:
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
                    return self._granted(
                        REGISTRY_TOKEN, identity, username, started, audit=False, client=client
                    )
                count_token("gateway", invalid.reason)
                raise Denied(401, f"token_{invalid.reason}") from None
            username = verified.username
            session = self._sessions.get_active(verified.session_id)
            if session is None or session.username != verified.username:
                count_token("gateway", "session_ended")
                raise Denied(401, "session_ended")
            if not self._federation.in_force(session.provider):
                count_token("gateway", "provider_not_in_force")
                raise Denied(401, "provider_not_in_force")
            count_token("gateway", "valid")
            return self._granted(
                REGISTRY_TOKEN, session.identity, username, started, audit=False, client=client
            )
        except Denied as denied:
            return self._records.refused(
                REGISTRY_TOKEN, username, None, denied.status, denied.reason, started
            )

    def _idp_identity(self, token: str) -> Identity:
        try:
            identity = self._idp_tokens.identity(token)
        except LoginRejected as rejected:
            count_token("idp", rejected.reason)
            raise Denied(403 if rejected.status == 403 else 401, f"idp_token_{rejected.reason}") from None
        return self._federation.admit(identity)

    def browser_password(
        self, username: str, password: str, started: float, client: Client = NO_CLIENT
    ) -> PasswordOutcome:
        """The browser's sign-in form: a full password verification (never an app password),
        then a gateway session (:attr:`Granted.session`)."""
        if looks_like_app_password(password):
            return self._records.refused(
                BROWSER_PASSWORD, username, None, 401, "app_password_in_browser", started
            )
        return self._guarded(
            BROWSER_PASSWORD,
            username,
            started,
            lambda: self._with_session(BROWSER_PASSWORD, username, password, started, client),
        )

    def admin_api_password(
        self,
        username: str,
        password: str,
        started: float,
        client: Client = NO_CLIENT,
        *,
        code: str | None = None,
        check_code: CodeCheck | None = None,
    ) -> Outcome:
        """``POST /api/token`` with a password: as :meth:`browser_password`, but an account
        with a second factor proves it in the same request: ``check_code(username, code)``
        accepts ``code`` or raises Denied (or the throttle's Throttled). Refused 403
        (:data:`SECOND_FACTOR_ENROL_FIRST`) when the account must set one up first, 401
        (:data:`SECOND_FACTOR_MISSING`) without a code. One attempt is recorded, with the
        request's real outcome. An app password is refused (one must not turn into a session
        that can create further secrets)."""
        if looks_like_app_password(password):
            return self._records.refused(
                ADMIN_API_PASSWORD, username, None, 401, "app_password_for_admin_api", started
            )

        def second_step(pending: SecondFactor) -> Outcome:
            identity = pending.identity
            try:
                if pending.enrol:
                    raise Denied(403, SECOND_FACTOR_ENROL_FIRST)
                if not code or check_code is None:
                    raise Denied(401, SECOND_FACTOR_MISSING)
                check_code(identity.username, code)
            except Denied as denied:  # the password was right: the refusal names the provider
                return self._records.refused(
                    ADMIN_API_PASSWORD,
                    identity.username,
                    identity.provider,
                    denied.status,
                    denied.reason,
                    started,
                )
            return self._second_factor_session(ADMIN_API_PASSWORD, identity, "totp", started, client)

        outcome = self._guarded(
            ADMIN_API_PASSWORD,
            username,
            started,
            lambda: self._with_session(ADMIN_API_PASSWORD, username, password, started, client, second_step),
        )
        assert not isinstance(outcome, SecondFactor)  # second_step finished it
        return outcome

    def _with_session(
        self,
        way: Way,
        username: str,
        password: str,
        started: float,
        client: Client,
        second_step: Callable[[SecondFactor], Outcome] | None = None,
    ) -> PasswordOutcome:
        """Verify the password and open a session; when a second factor must come first,
        ``second_step`` finishes the login in this request, or else (the browser) the
        SecondFactor is answered, recorded as the password step's attempt."""
        identity = self._passwords.verify(username, password)
        if identity.attributes.get(MUST_CHANGE_PASSWORD):
            return self._must_change(way, identity, started)
        if self._second_factor is not None:
            evaluation = self._mapping.evaluate(identity)
            need = None if evaluation.denied else self._second_factor(identity.username, evaluation)
            if need is not None:
                pending = SecondFactor(identity, evaluation, enrol=need == "enrol")
                if second_step is not None:
                    return second_step(pending)
                self._attempts.record(
                    way.attempt_path,
                    identity.username,
                    identity.provider,
                    way.granted_status,
                    "second_factor",
                    started,
                )
                return pending
        return self._granted(way, identity, username, started, audit=True, open_session=True, client=client)

    def second_factor_passed(
        self, identity: Identity, factor: str, started: float, *, client: Client = NO_CLIENT
    ) -> Outcome:
        """Open the session of a browser's password sign-in whose second factor (``factor``:
        its type) was just checked: the ``require`` gate again, then the grant recorded and
        audited with the factor's type."""
        return self._guarded(
            BROWSER_PASSWORD,
            identity.username,
            started,
            lambda: self._second_factor_session(BROWSER_PASSWORD, identity, factor, started, client),
        )

    def _second_factor_session(
        self, way: Way, identity: Identity, factor: str, started: float, client: Client
    ) -> Outcome:
        # Disabled (or the name lost) since the password was checked: no session.
        admitted = self._federation.admit(identity)
        return self._granted(
            way,
            admitted,
            identity.username,
            started,
            audit=True,
            open_session=True,
            factor=factor,
            client=client,
        )

    def _must_change(self, way: Way, identity: Identity, started: float) -> Refused:
        """A right but temporary password: refused (403) everywhere, no session opened; the
        browser's sign-in form sends the person on to choose their own password."""
        return self._records.refused(
            way,
            identity.username,
            identity.provider,
            403,
            "must_change_password",
            started,
            PasswordChangeRequired(identity.username),
        )

    def sso_callback(
        self,
        provider_id: str,
        params: dict[str, str],
        sealed: str | None,
        started: float,
        client: Client = NO_CLIENT,
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
                return self._records.refused(
                    SSO_CALLBACK, None, provider_id, error.status, error.reason, started, error
                )
            # The transaction, not the person, is at fault: nobody to audit.
            self._attempts.record(
                SSO_CALLBACK.attempt_path, None, provider_id, error.status, error.reason, started
            )
            return Refused(error.status, error.reason, error)
        except OUTAGES as outage:
            return self._records.unavailable(SSO_CALLBACK, None, outage, started)
        return self._guarded(
            SSO_CALLBACK,
            finished.identity.username,
            started,
            lambda: self._sso_session(finished, started, client),
            provider=provider_id,
            cause=_sso_refusal,
        )

    def _sso_session(self, finished: FinishedCallback, started: float, client: Client) -> Outcome:
        identity = self._federation.admit(finished.identity)
        evaluation = self._mapping.evaluate(identity)
        if evaluation.denied:
            raise Denied(403, "mapping_require_failed")
        session = self._sso.open_sso_session(identity, finished.id_token, finished.idp_session)
        if session is None:  # disabled while this login was under way
            raise Denied(403, "account_disabled")
        token = self._sso.mint_for(session)
        self._records.grant(SSO_CALLBACK, identity, evaluation, started, audit=True, client=client)
        return Granted(identity, evaluation, session, finished.next_url, token)

    # -- recording ----------------------------------------------------------------------------

    def _guarded(
        self,
        way: Way,
        username: str | None,
        started: float,
        login: Callable[[], _O],
        *,
        provider: str | None = None,
        cause: Callable[[Denied], Exception | None] = lambda denied: None,
    ) -> _O | Refused | Throttled | Unavailable:
        """``login()``, with its Denied, a throttle and an outage turned into recorded
        outcomes; a refusal names ``provider`` when the way in already knows it, and gets from
        ``cause`` the exception its way in answers with."""
        try:
            return login()
        except ThrottledAccount as throttled:
            self._attempts.record(way.attempt_path, username, None, 429, "throttled", started)
            return Throttled(math.ceil(throttled.wait_seconds))
        except Denied as denied:
            return self._records.refused(
                way, username, provider, denied.status, denied.reason, started, cause(denied)
            )
        except OUTAGES as outage:
            return self._records.unavailable(way, username, outage, started)

    def _granted(
        self,
        way: Way,
        identity: Identity,
        typed: str | None,
        started: float,
        *,
        audit: bool,
        open_session: bool = False,
        factor: str | None = None,
        client: Client = NO_CLIENT,
        signin_path: str | None = None,
    ) -> Outcome:
        """The ``require`` gate on ``identity``, then the grant recorded (``typed``: the
        username as the caller gave it, for a refusal's records; ``signin_path``: the last
        sign-in row when it is not the way's own)."""
        evaluation = self._mapping.evaluate(identity)
        if evaluation.denied:
            return self._records.refused(
                way, typed, identity.provider, 403, "mapping_require_failed", started
            )
        session = self._sso.open_session(identity) if open_session else None
        self._records.grant(
            way,
            identity,
            evaluation,
            started,
            audit=audit,
            factor=factor,
            client=client,
            signin_path=signin_path,
        )
        return Granted(identity, evaluation, session)


def _sso_refusal(denied: Denied) -> Exception:
    """The page a person refused at the SSO callback sees."""
    return SsoError(denied.status, denied.reason, NOT_ALLOWED)
