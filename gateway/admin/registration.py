"""Self-registration (``self_service.registration``): a person creates their own local account,
under the password policy, from an allowed e-mail domain; confirms their address by a
single-use link (``require_email_verification``); and waits for an admin to approve it
(``require_admin_approval``). Until admitted the account is disabled (it owns its username,
so nobody else can take it meanwhile) and listed for admins, who approve or reject it.

What a registration tells about others: that a username is taken (the person must pick another
one; a username is no secret in the Registry anyway). It never tells whether
an address has an account: the username is checked first, and with verification on an address in
use gets the same "check your mail" page after the same work (a password hash and a queued mail,
which tells the address's owner that they already have an account). With verification off an
address is not checked at all (it is not proven, so two accounts may share one).

An unconfirmed registration lapses when its link does (``verification_link_minutes``), and a new
registration with its address replaces it: a stranger who registered someone's address cannot
keep its owner out, and a lost mail is fixed by registering again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from gateway.admin.errors import AdminError
from gateway.admin.linktokens import VERIFY
from gateway.admin.selfservicebase import SelfServiceDeps, SelfServiceFeature, normalised_identifier
from gateway.config.email import ADDRESS_PATTERN, RegistrationSettings
from providers.local.policy import PasswordRejected
from providers.local.users import UserError, UserView
from providers.sql import utcnow

log = logging.getLogger(__name__)
UNVERIFIED = "unverified"
PENDING = "pending"
CHECK_MAIL = "check_mail"
NAME_TAKEN = "This username is not available. Choose another one."
AWAITING_APPROVAL = "awaiting_approval"
ACTIVE = "active"


class RegistrationRefused(Exception):
    """The form cannot be accepted: ``field`` and a message fit to show."""

    def __init__(self, field: str, message: str, status: int = 400):
        super().__init__(message)
        self.field, self.message, self.status = field, message, status


@dataclass(frozen=True)
class PendingRegistration:
    username: str
    email: str | None
    display_name: str | None
    state: str
    created_at: str


class Registration(SelfServiceFeature):
    def __init__(self, deps: SelfServiceDeps):
        super().__init__(deps)
        self.settings: RegistrationSettings = deps.settings.registration
        self._limits = deps.settings

    @property
    def enabled(self) -> bool:
        needs_mail = self.settings.require_email_verification
        return (
            self.settings.enabled and self._local_users is not None and (self._mail.enabled or not needs_mail)
        )

    def register(
        self, username: str, email: str, password: str, display_name: str | None, client: str
    ) -> str:
        """Create the account as the settings say; CHECK_MAIL, AWAITING_APPROVAL or ACTIVE.
        RegistrationRefused for a form problem (429 past the throttle)."""
        assert self._local_users is not None
        email = email.strip()
        if not self._throttle.allow("register-client", client, self._limits.max_requests_per_client):
            raise RegistrationRefused("form", "Too many registrations from here. Try again later.", 429)
        if len(email) > 320 or not ADDRESS_PATTERN.fullmatch(email):
            raise RegistrationRefused("email", "Enter your e-mail address.")
        domain = email.rpartition("@")[2].lower()
        allowed = self.settings.allowed_email_domains
        if allowed and domain not in allowed:
            raise RegistrationRefused(
                "email", "Registration is open to addresses of " + ", ".join(allowed) + "."
            )
        if not self._throttle.allow(
            "register-address", normalised_identifier(email), self._limits.max_requests_per_address
        ):
            raise RegistrationRefused(
                "form", "Too many registrations for this address. Try again later.", 429
            )
        try:
            username = self._operations.canonical(username.strip())
        except UserError as spelling:
            raise RegistrationRefused("username", str(spelling)) from None
        if display_name is not None and len(display_name) > 200:
            raise RegistrationRefused("display_name", "The name is too long.")
        try:
            self._local_users.policy.check(password, username, email)
        except PasswordRejected as rejected:
            raise RegistrationRefused("password", f"That password cannot be used: {rejected}.") from None
        self.expire_unverified()
        if not self._name_free(username):
            raise RegistrationRefused("username", NAME_TAKEN)
        verify = self.settings.require_email_verification
        holders = self._local_users.with_email(email) if verify else []
        if any(holder.registration_state != UNVERIFIED for holder in holders):
            # The address has an account: the same page and about the same work (a hash and a
            # queued mail) as a new one; the mail tells the address's owner, nobody else.
            self._local_users.hash_only(password)
            self._tell_already_registered(email)
            return CHECK_MAIL
        for earlier in holders:
            # Never confirmed, so nobody's account: a registration again with the address (its
            # owner, whose link was lost or expired) replaces it, and only the new link works.
            try:
                self._drop(earlier.username, actor=username)
            except UserError:
                continue  # gone meanwhile (it lapsed, an admin rejected it)
            self._audit.record("registration_replaced", "ok", username=earlier.username, actor=username)
        state = UNVERIFIED if verify else PENDING if self.settings.require_admin_approval else None
        try:
            self._operations.create(
                username,
                password,
                email=email,
                display_name=display_name or None,
                groups=self.settings.default_groups,
                actor=username,
                registration_state=state,
            )
        except UserError as error:
            if self._name_free(username):
                # Not the name: the configuration (a default group that does not exist).
                log.error("self-registration failed: %s (self_service.registration.default_groups?)", error)
                raise RegistrationRefused(
                    "form", "Registration is not possible right now. Please tell an administrator.", 503
                ) from None
            raise RegistrationRefused("username", NAME_TAKEN) from None
        self._audit.record("user_registered", "ok", username=username, state=state or "active")
        if verify:
            with self._database.session() as session:
                token = self._tokens.issue(session, VERIFY, username, self.settings.verification_link_minutes)
                self._mail.enqueue(
                    session,
                    "verify_email",
                    email,
                    username=username,
                    link=f"{self._public_url}/register/verify/{token}",
                    minutes=self.settings.verification_link_minutes,
                )
            return CHECK_MAIL
        return AWAITING_APPROVAL if state == PENDING else ACTIVE

    def _name_free(self, username: str) -> bool:
        assert self._local_users is not None
        return self._local_users.get(username) is None and self._operations.owner(username) is None

    def _tell_already_registered(self, email: str) -> None:
        reset = self._limits.password_reset and self._mail.enabled
        with self._database.session() as session:
            self._mail.enqueue(
                session,
                "already_registered",
                email,
                reset_link=f"{self._public_url}/password/forgot" if reset else None,
            )

    def expire_unverified(self) -> list[str]:
        """Delete the registrations whose address was not confirmed within
        ``verification_link_minutes`` (their link has expired, so nothing else can admit them):
        their usernames and addresses are free again. The usernames deleted."""
        assert self._local_users is not None
        cutoff = utcnow() - timedelta(minutes=self.settings.verification_link_minutes)
        expired = self._local_users.registered_before(UNVERIFIED, cutoff)
        for username in expired:
            try:
                self._drop(username, actor=None)
            except UserError:
                continue  # deleted meanwhile (another request, an admin's reject)
            self._audit.record("registration_expired", "ok", username=username)
        return expired

    def _drop(self, username: str, actor: str | None) -> None:
        """Delete a registration and its links: a later account of that name is not confirmed
        by a link mailed for this one."""
        self._operations.delete(username, actor=actor)
        with self._database.session() as session:
            self._tokens.revoke(session, VERIFY, username)

    def verifiable(self, token: str) -> bool:
        """Whether the link would confirm an unconfirmed registration (without using it)."""
        username = self._tokens.peek(token, VERIFY)
        user = self._local_users.get(username) if username and self._local_users is not None else None
        return user is not None and user.registration_state == UNVERIFIED

    def verify(self, token: str) -> str | None:
        """Use a verification link: AWAITING_APPROVAL or ACTIVE, None when it does not work."""
        assert self._local_users is not None
        username = self._tokens.consume(token, VERIFY)
        if username is None:
            return None
        user = self._local_users.get(username)
        if user is None or user.registration_state != UNVERIFIED:
            return None
        approval = self.settings.require_admin_approval
        self._local_users.set_registration_state(username, PENDING if approval else None)
        self._audit.record("email_verified", "ok", username=username)
        if approval and user.email and self._mail.enabled:
            with self._database.session() as session:
                self._mail.enqueue(session, "registration_pending", user.email, username=username)
        return AWAITING_APPROVAL if approval else ACTIVE

    # ---- for admins ----------------------------------------------------------------------

    def pending(self) -> list[UserView]:
        """Accounts waiting: for their address to be confirmed (those past their time are
        removed first), or for an admin."""
        if self._local_users is None:
            return []
        self.expire_unverified()
        return self._local_users.registrations()

    def approve(self, actor: str, username: str) -> None:
        """Admit a registration waiting for approval (404 otherwise); the person is told."""
        user = self._waiting(username, PENDING)
        assert self._local_users is not None
        self._local_users.set_registration_state(username, None)
        self._audit.record("registration_approved", "ok", username=username, actor=actor)
        if user.email and self._mail.enabled:
            with self._database.session() as session:
                self._mail.enqueue(
                    session,
                    "registration_approved",
                    user.email,
                    username=username,
                    link=f"{self._public_url}/login",
                )

    def reject(self, actor: str, username: str) -> None:
        """Delete a registration not yet admitted (either state; 404 otherwise)."""
        self._waiting(username, None)
        self._drop(username, actor=actor)
        self._audit.record("registration_rejected", "ok", username=username, actor=actor)

    def _waiting(self, username: str, state: str | None) -> UserView:
        user = self._local_users.get(username) if self._local_users is not None else None
        if user is None or user.registration_state is None or (state and user.registration_state != state):
            raise AdminError(404, f"no registration of {username!r} waits for approval")
        return user
