"""Sending one message through SMTP with Python's ``smtplib``: plain, STARTTLS or implicit TLS
(certificates checked against the system's CAs or ``ca_file``), every operation under the
configured timeout."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from gateway.config.email import EmailSettings


class PermanentSendError(Exception):
    """The server refused the message for good (a 5xx answer): retrying will not help."""


class SmtpSender:
    """Sends messages with the ``email:`` settings."""

    def __init__(self, settings: EmailSettings, brand: str):
        self.settings = settings
        self._brand = brand

    def message(self, recipient: str, subject: str, text: str, html: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = formataddr((self._brand, self.settings.sender))
        message["To"] = recipient
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain=self.settings.sender.rpartition("@")[2])
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        return message

    def send(self, recipient: str, subject: str, text: str, html: str) -> None:
        """Deliver to the SMTP server; PermanentSendError on a 5xx refusal (of the message or of
        its recipient), another exception (OSError, smtplib errors, a 4xx at any step) for
        anything worth trying again."""
        smtp = self.settings.smtp
        timeout = self.settings.timeout_seconds
        context = ssl.create_default_context(cafile=smtp.ca_file)
        client: smtplib.SMTP
        if smtp.security == "tls":
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
        try:
            client.ehlo()
            if smtp.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if smtp.username is not None and smtp.password is not None:
                client.login(smtp.username, smtp.password)
            client.send_message(self.message(recipient, subject, text, html))
        except smtplib.SMTPResponseException as error:
            if _permanent(error.smtp_code):
                raise PermanentSendError(f"{error.smtp_code} {_text(error.smtp_error)}") from None
            raise
        except smtplib.SMTPRecipientsRefused as error:
            # A 4xx at RCPT (greylisting, a full mailbox, a passing lookup failure) is worth
            # trying again; only a 5xx for every recipient is final.
            if error.recipients and all(_permanent(code) for code, _ in error.recipients.values()):
                raise PermanentSendError(f"recipient refused: {_refusals(error)}") from None
            raise
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _permanent(code: int) -> bool:
    return 500 <= code < 600


def _refusals(error: smtplib.SMTPRecipientsRefused) -> str:
    return ", ".join(
        f"{address}: {code} {_text(reply)}" for address, (code, reply) in error.recipients.items()
    )
