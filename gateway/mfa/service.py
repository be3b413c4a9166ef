"""Multi-factor sign-in as the pages and the admin API use it: who needs a second factor,
checking one (throttled per account, audited by factor type, never the code), enrolling and
removing factors, and recovery codes.

Checks count failures against the account under a throttle key of their own
(``mfa:<username>``): a right password resets the password's failures, and must not reset the
second factor's, or someone who knows the password could guess codes without end.
"""

from __future__ import annotations

from typing import Literal

from gateway.config.mfa import REFUSE, MfaSettings
from gateway.login.refusals import SECOND_FACTOR_ENROL_FIRST, SECOND_FACTOR_USE_APP_PASSWORD
from gateway.login.throttle import AccountThrottle
from gateway.mapping import Evaluation
from gateway.mfa.factors import PASSKEY, TOTP, FactorError, FactorStore, FactorView
from gateway.mfa.passkeys import PasskeyRejected, Passkeys
from gateway.mfa.totp import TotpCheck, clean_code, is_secret
from gateway.observe.audit import AuditLog

Need = Literal["verify", "enrol"]


class SecondFactorFailed(Exception):
    """A second factor that did not prove anything; ``message`` is safe to show."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class MfaService:
    def __init__(
        self,
        settings: MfaSettings,
        factors: FactorStore,
        totp: TotpCheck,
        passkeys: Passkeys,
        throttle: AccountThrottle,
        audit: AuditLog,
        admin_role: str,
    ):
        self.settings = settings
        self.factors = factors
        self._totp = totp
        self.passkeys = passkeys
        self._throttle = throttle
        self._audit = audit
        self._admin_role = admin_role

    # ---- policy --------------------------------------------------------------------------

    def need(self, username: str, evaluation: Evaluation) -> Need | None:
        """What a browser or admin API sign-in of ``username`` must do after the password:
        ``verify`` (they have factors), ``enrol`` (none yet, but a ``require_mfa`` rule or
        ``mfa.admins_required`` for an admin asks for one), or None."""
        if self.factors.has_factors(username):
            return "verify"
        if self.required(evaluation):
            return "enrol"
        return None

    def required(self, evaluation: Evaluation) -> bool:
        return evaluation.require_mfa or (
            self.settings.admins_required and self._admin_role in evaluation.roles
        )

    def registry_password_refusal(self, username: str, evaluation: Evaluation) -> str | None:
        """Why the Registry's password path refuses ``username``'s own password, or None: the
        Registry cannot ask for a second factor, so with ``mfa.registry_password: refuse`` an
        account that has one (``second_factor_use_app_password``), or that the policy requires
        to set one up and has none yet (``second_factor_enrol_first``), signs in there with an
        app password only."""
        if self.settings.registry_password != REFUSE:
            return None
        if self.factors.has_factors(username):
            return SECOND_FACTOR_USE_APP_PASSWORD
        if not evaluation.denied and self.required(evaluation):
            return SECOND_FACTOR_ENROL_FIRST
        return None

    # ---- checking ------------------------------------------------------------------------

    def check_totp(self, username: str, code: str) -> None:
        """Accept a current, unused TOTP code of ``username``; SecondFactorFailed otherwise."""
        self._check(username, TOTP, lambda: self._totp_factor(username, code))

    def check_recovery_code(self, username: str, code: str) -> None:
        self._check(
            username, "recovery_code", lambda: "" if self.factors.use_recovery_code(username, code) else None
        )

    def check_passkey(self, username: str, response: str) -> None:
        def verify() -> str | None:
            try:
                passkey, count = self.passkeys.verify_authentication(
                    username, self.factors.passkeys(username), response
                )
            except PasskeyRejected:
                return None
            self.factors.touch(passkey.id, count)
            return passkey.id

        self._check(username, PASSKEY, verify)

    def _totp_factor(self, username: str, code: str) -> str | None:
        if clean_code(code) is None:
            return None
        for factor_id, secret in self.factors.totp_secrets(username):
            if self._totp.use(factor_id, secret, code):
                self.factors.touch(factor_id)
                return factor_id
        return None

    def _check(self, username: str, kind: str, verify) -> None:
        """Run ``verify`` under the account's second-factor throttle (raises the throttle's
        Throttled); audit the outcome by factor type."""
        with self._throttle.attempt(f"mfa:{username}") as attempt:
            factor_id = verify()
            if factor_id is None:
                attempt.failed()
                self._audit.record("mfa_check", "denied", username=username, factor=kind)
                raise SecondFactorFailed("That code or passkey was not accepted.")
            attempt.succeeded()
        self._audit.record("mfa_check", "ok", username=username, factor=kind)

    # ---- enrolling -----------------------------------------------------------------------

    def enrol_totp(self, username: str, name: str, secret: str, code: str) -> FactorView:
        """Add a TOTP factor once a code from it proves the app has the secret."""
        if not is_secret(secret):
            raise FactorError("the enrolment has expired; start again")
        if self._totp.matching_step(secret, code) is None:
            raise FactorError("that code is not right; check the time on your device and try again")
        view = self.factors.add_totp(username, name, secret)
        self._totp.use(view.id, secret, code)  # the code that confirmed it cannot sign in too
        self._audit.record("mfa_enrolled", "ok", username=username, factor=TOTP, factor_id=view.id)
        return view

    def enrol_passkey(self, username: str, name: str, response: str) -> FactorView:
        try:
            new = self.passkeys.verify_registration(username, response)
        except PasskeyRejected as rejected:
            raise FactorError(str(rejected)) from None
        view = self.factors.add_passkey(
            username, name, new.credential_id, new.public_key, new.sign_count, new.transports
        )
        self._audit.record("mfa_enrolled", "ok", username=username, factor=PASSKEY, factor_id=view.id)
        return view

    def new_recovery_codes(self, username: str) -> list[str]:
        codes = self.factors.new_recovery_codes(username)
        self._audit.record("mfa_recovery_codes_created", "ok", username=username, count=len(codes))
        return codes

    def remove(self, username: str, factor_id: str, *, actor: str | None = None) -> FactorView | None:
        view = self.factors.remove(username, factor_id)
        if view is not None:
            self._audit.record(
                "mfa_removed", "ok", username=username, factor=view.kind, factor_id=view.id, actor=actor
            )
        return view
