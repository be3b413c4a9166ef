"""E-mail as admins see it (admin UI, admin API): the settings in force (never the password),
the queue's pending and failed messages, and a test message."""

from __future__ import annotations

from typing import Any

from gateway.admin.errors import AdminError
from gateway.config.email import ADDRESS_PATTERN
from gateway.mail.service import Mail
from gateway.observe.audit import AuditLog


class EmailAdmin:
    def __init__(self, mail: Mail, audit: AuditLog):
        self._mail = mail
        self._audit = audit

    def overview(self) -> dict[str, Any]:
        """``settings`` (None without an ``email:`` section) and ``queue``."""
        return {"settings": self._mail.public_settings(), "queue": self._mail.status().as_dict()}

    def send_test(self, recipient: str, *, actor: str) -> None:
        """Queue a test message to ``recipient``: 409 without ``email:``, 400 for a bad address."""
        if not self._mail.enabled:
            raise AdminError(409, "no email: section is configured, so the gateway sends no mail")
        recipient = recipient.strip() if isinstance(recipient, str) else ""
        if len(recipient) > 320 or not ADDRESS_PATTERN.fullmatch(recipient):
            raise AdminError(400, "enter one e-mail address", "to")
        self._mail.send_test(recipient, actor=actor)
        self._audit.record("email_test_queued", "ok", actor=actor, to=recipient)
