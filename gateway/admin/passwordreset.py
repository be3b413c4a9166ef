"""Password reset by e-mail for local users (``self_service.password_reset``).

A request for a username or an address costs the same whoever it names: it passes the
throttle (per address and per client) and queues the request as it stands. The mail deliverer
expands it later (:meth:`PasswordReset.expand`): each enabled local user the name or address
matches gets a single-use link, at most ``max_requests_per_address`` per user in a window
however the requests named them (by username or by address): the request path cannot count per
person without looking the person up, and a throttle that answered by person would tell whose
the address is. So the page a request answers, and the time it takes, say nothing about who
exists. Using the link sets the password through
:meth:`gateway.admin.useroperations.UserService.set_password`, the one operation an admin reset
also uses: every session, token, app password and API key of the user ends with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.admin.linktokens import RESET
from gateway.admin.selfservicebase import SelfServiceDeps, SelfServiceFeature, normalised_identifier
from gateway.mail.messages import Rendered
from providers.local.models import LocalUser
from providers.local.policy import PasswordRejected
from providers.local.users import UserError

REQUEST_KIND = "password_reset_request"
LINK_EXPIRED = "This link has expired or has already been used. Ask for a new one."


class Requested(Enum):
    QUEUED = "queued"
    THROTTLED = "throttled"


class ResetRefused(Exception):
    """The link is not (or no longer) valid, or the password breaks the policy; the message
    is fit to show."""


@dataclass(frozen=True)
class ProviderLink:
    """Where users of a directory or IdP provider reset their password instead."""

    provider: str
    label: str
    url: str


class PasswordReset(SelfServiceFeature):
    def __init__(self, deps: SelfServiceDeps, provider_links: list[ProviderLink]):
        super().__init__(deps)
        self.settings = deps.settings
        self.provider_links = provider_links

    @property
    def enabled(self) -> bool:
        return self.settings.password_reset and self._mail.enabled and self._local_users is not None

    def request(self, identifier: str, client: str) -> Requested:
        """Queue a reset for whoever ``identifier`` (a username or an address) names, the
        same work whether or not anyone matches. THROTTLED past the limits."""
        wanted = normalised_identifier(identifier)
        client_ok = self._throttle.allow("client", client, self.settings.max_requests_per_client)
        address_ok = self._throttle.allow("address", wanted, self.settings.max_requests_per_address)
        if not (client_ok and address_ok):
            return Requested.THROTTLED
        with self._database.session() as session:
            self._mail.enqueue_request(session, REQUEST_KIND, wanted)
        return Requested.QUEUED

    def expand(self, session: Session, wanted: str) -> list[tuple[str, str, Rendered]]:
        """The reset mails a queued request stands for (run by the mail deliverer): one per
        enabled, admitted local user whose username or address is ``wanted`` in any case (the
        request keeps it lower-cased; with ``usernames.lowercase: false`` a username may not be),
        with an address. Each mail goes to the matched user's own address."""
        if not wanted:
            return []
        users = session.scalars(
            select(LocalUser).where(
                (func.lower(LocalUser.username) == wanted) | (func.lower(LocalUser.email) == wanted),
                LocalUser.enabled.is_(True),
                LocalUser.registration_state.is_(None),
                LocalUser.email.is_not(None),
            )
        ).all()
        messages = []
        for user in users:
            assert user.email is not None
            if not self._throttle.allow("reset-user", str(user.id), self.settings.max_requests_per_address):
                # Dropped silently (the request was answered long ago), but audited.
                self._audit.record_in(
                    session, "password_reset_requested", "throttled", username=user.username
                )
                continue
            token = self._tokens.issue(session, RESET, user.username, self.settings.reset_link_minutes)
            rendered = self._mail.render(
                "password_reset",
                username=user.username,
                link=f"{self._public_url}/password/reset/{token}",
                minutes=self.settings.reset_link_minutes,
            )
            messages.append((user.email, "password_reset", rendered))
            self._audit.record_in(session, "password_reset_requested", "ok", username=user.username)
        return messages

    def valid(self, token: str) -> bool:
        """Whether the link still works (without using it)."""
        return self._tokens.peek(token, RESET) is not None

    def reset(self, token: str, password: str) -> str:
        """Use the link to set ``password``; the username. ResetRefused when the link does not
        work or the password breaks the policy (the link then still works)."""
        username = self._tokens.peek(token, RESET)
        if username is None or self._local_users is None:
            raise ResetRefused(LINK_EXPIRED)
        user = self._local_users.get(username)
        if user is None or not user.enabled:
            raise ResetRefused(LINK_EXPIRED)
        try:
            self._local_users.policy.check(password, username, user.email)
        except PasswordRejected as rejected:
            raise ResetRefused(f"That password cannot be used: {rejected}.") from None
        if self._tokens.consume(token, RESET) != username:
            raise ResetRefused(LINK_EXPIRED)
        try:
            self._operations.set_password(username, password, actor=username, event="password_reset_by_email")
        except (UserError, PasswordRejected) as error:
            raise ResetRefused(str(error)) from None
        return username
