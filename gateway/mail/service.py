"""The gateway's mail as the rest of the code uses it: queue a message (rendered from its
template with the brand) in a caller's transaction, queue a request that the deliverer expands
into messages later, send a test message, report on the queue, run the deliverer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from gateway.config.email import EmailSettings
from gateway.mail.deliverer import MailDeliverer
from gateway.mail.messages import Rendered, render
from gateway.mail.queue import BodyCipher, MailQueue, MailStatus
from gateway.mail.sender import SmtpSender
from gateway.storage.db import Database

# Expands a queued request (its text) into (recipient, kind, message) triples, in the session
# that also removes the request: what a request path must not do itself, because doing it or
# not would tell whether anyone matched.
Expander = Callable[[Session, str], list[tuple[str, str, Rendered]]]


class MailNotConfigured(Exception):
    """There is no ``email:`` section, so nothing can be sent."""


class Mail:
    def __init__(
        self,
        settings: EmailSettings | None,
        database: Database,
        secret: str,
        brand: str,
        *,
        poll_interval: float = 5.0,
    ):
        self.settings = settings
        self.brand = (settings.brand if settings else None) or brand
        self._database = database
        self.queue = MailQueue(database, BodyCipher(secret))
        self.deliverer: MailDeliverer | None = None
        if settings is not None:
            self.deliverer = MailDeliverer(
                database, SmtpSender(settings, self.brand), self.queue, poll_interval=poll_interval
            )

    @property
    def enabled(self) -> bool:
        return self.settings is not None

    def render(self, kind: str, **context: Any) -> Rendered:
        return render(kind, self.brand, **context)

    def enqueue(self, session: Session, kind: str, recipient: str, **context: Any) -> None:
        """Queue the message ``kind`` to ``recipient`` in ``session``'s transaction."""
        if self.settings is None:
            raise MailNotConfigured("no email: section is configured")
        self.queue.enqueue(session, kind, recipient, self.render(kind, **context))

    def enqueue_request(self, session: Session, kind: str, text: str) -> None:
        """Queue a request the deliverer hands to the expander registered for ``kind``."""
        if self.settings is None or self.deliverer is None:
            raise MailNotConfigured("no email: section is configured")
        self.queue.enqueue(session, kind, "", Rendered(subject=kind, text=text, html=""))

    def add_expander(self, kind: str, expander: Expander) -> None:
        if self.deliverer is not None:
            self.deliverer.expanders[kind] = expander

    def send_test(self, recipient: str, actor: str) -> None:
        """Queue a test message (it goes out within a moment; the queue shows if it fails)."""
        with self._database.session() as session:
            self.enqueue(session, "test", recipient, actor=actor)

    def status(self) -> MailStatus:
        return self.queue.status()

    def public_settings(self) -> dict[str, Any] | None:
        return None if self.settings is None else {**self.settings.public(), "brand": self.brand}

    def start(self) -> None:
        if self.deliverer is not None:
            self.deliverer.start()

    def stop(self) -> None:
        if self.deliverer is not None:
            self.deliverer.stop()
