"""The mail queue and its deliverer against a real SMTP server (aiosmtpd on loopback): plain,
STARTTLS and implicit TLS with a login, a message in text and HTML with the brand (HTML
escaped), an outage that leaves the message queued and then failed for admins to see, a
temporary refusal of the recipient (greylisting) that is tried again after the backoff, and
a 5xx refusal of the recipient that fails at once."""

from __future__ import annotations

import select
import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from gateway.config.email import EmailSettings, SmtpSettings
from gateway.mail.deliverer import RETRY_CAP_SECONDS, MailDeliverer
from gateway.mail.service import Mail
from gateway.storage.db import Database
from tests.support.servers import free_port
from tests.support.smtpserver import SmtpServer, html_part, text_part

pytestmark = pytest.mark.integration
SECRET = "k" * 40


def _mail(tmp_path, port: int, security: str = "none", **smtp) -> Mail:
    database = Database(f"sqlite:///{tmp_path}/mail.db")
    database.upgrade()
    settings = EmailSettings(
        smtp=SmtpSettings(host="127.0.0.1", port=port, security=security, **smtp),
        sender="gateway@example.org",
        timeout_seconds=3,
        max_attempts=2,
        retry_base_seconds=1,
    )
    return Mail(settings, database, SECRET, "Drone <Registry>")


@pytest.mark.parametrize("security", ["none", "starttls", "tls"])
def test_a_queued_message_arrives_in_text_and_html(tmp_path, security):
    login = ("mailer", "s3cret-pass") if security != "none" else None
    server = SmtpServer(tmp_path, security, login=login).start()
    try:
        smtp = {"ca_file": str(server.ca_file)} if server.ca_file else {}
        if login:
            smtp |= {"username": login[0], "password": login[1]}
        mail = _mail(tmp_path, server.port, security, **smtp)
        mail.send_test("alice@example.org", actor="<b>admin</b>")
        assert mail.status().pending == 1
        report = mail.deliverer.run_once()
        assert report.sent == 1, mail.status()
        (message,) = server.wait_for(1)
        assert message["To"] == "alice@example.org"
        assert "Drone <Registry>" in message["Subject"]
        assert "<b>admin</b>" in text_part(message)
        html = html_part(message)
        assert "&lt;b&gt;admin&lt;/b&gt;" in html and "<b>admin</b>" not in html
        assert "Drone &lt;Registry&gt;" in html
        assert mail.status().pending == 0
    finally:
        server.stop()


def test_a_wrong_login_sends_nothing_and_shows_its_error(tmp_path):
    server = SmtpServer(tmp_path, "starttls", login=("mailer", "right")).start()
    try:
        mail = _mail(
            tmp_path,
            server.port,
            "starttls",
            username="mailer",
            password="wrong",
            ca_file=str(server.ca_file),
        )
        mail.send_test("alice@example.org", actor="admin")
        mail.deliverer.run_once()
        status = mail.status()
        assert status.failed + status.retrying == 1 and status.last_error or status.failed_mails, status
        assert server.messages == []
    finally:
        server.stop()


def test_an_outage_leaves_the_message_queued_then_failed(tmp_path):
    # Queuing never waits on the SMTP server: it does not even connect (counted, not timed: a
    # time bound would also measure the queue's own write on a loaded machine).
    with socket.create_server(("127.0.0.1", free_port())) as listener:
        mail = _mail(tmp_path, listener.getsockname()[1])
        mail.send_test("alice@example.org", actor="admin")
        assert select.select([listener], [], [], 0)[0] == [], "queuing connected to the SMTP server"
    # Now nothing listens there.
    report = mail.deliverer.run_once()
    assert report.retried == 1
    status = mail.status()
    assert status.pending == 1 and status.retrying == 1 and status.last_error
    time.sleep(1.1)  # past the backoff (at most retry_base_seconds)
    report = mail.deliverer.run_once()
    assert report.failed == 1  # max_attempts=2
    status = mail.status()
    assert status.pending == 0 and status.failed == 1
    assert status.failed_mails[0].recipient == "alice@example.org"


class _Clock:
    """The real time, moved forward by ``ahead``."""

    def __init__(self):
        self.ahead = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


def _deliverer(mail: Mail, clock: _Clock) -> MailDeliverer:
    return MailDeliverer(mail._database, mail.deliverer._sender, mail.queue, clock=clock)


def test_a_greylisting_refusal_is_tried_again_after_the_backoff(tmp_path, smtp_server):
    smtp_server.refuse_recipients("450 4.2.0 greylisted, try again later")
    mail = _mail(tmp_path, smtp_server.port)
    clock = _Clock()
    deliverer = _deliverer(mail, clock)
    mail.send_test("ann@example.com", actor="admin")

    report = deliverer.run_once()
    assert (report.sent, report.retried, report.failed) == (0, 1, 0)
    status = mail.status()
    assert status.pending == 1 and status.retrying == 1 and status.failed == 0
    assert "450" in status.last_error
    # Not due yet: nothing is sent before the backoff has passed.
    assert deliverer.run_once().sent == 0

    clock.ahead = timedelta(seconds=RETRY_CAP_SECONDS)
    assert deliverer.run_once().sent == 1
    (message,) = smtp_server.wait_for(1)
    assert message["To"] == "ann@example.com"
    assert smtp_server.refused == ["450 4.2.0 greylisted, try again later"]
    assert mail.status().pending == 0


def test_a_permanent_refusal_of_the_recipient_fails_at_once(tmp_path, smtp_server):
    smtp_server.refuse_recipients("550 5.1.1 no such mailbox")
    mail = _mail(tmp_path, smtp_server.port)
    mail.send_test("nobody@example.com", actor="admin")

    report = mail.deliverer.run_once()
    assert (report.sent, report.retried, report.failed) == (0, 0, 1)
    status = mail.status()
    assert status.pending == 0 and status.failed == 1
    assert status.failed_mails[0].recipient == "nobody@example.com"
    assert "550" in (status.failed_mails[0].error or "")
    assert smtp_server.messages == []


def test_bodies_are_encrypted_at_rest(tmp_path):
    mail = _mail(tmp_path, free_port())
    mail.send_test("alice@example.org", actor="someone-unique-42")
    from sqlalchemy import text

    with mail._database.engine.connect() as connection:
        body = connection.execute(text("SELECT body FROM mail_queue")).scalar_one()
    assert b"someone-unique-42" not in bytes(body)


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def shared_database_url(request, tmp_path):
    name = f"mail_{uuid.uuid4().hex[:8]}"
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_server").create_database(name)
    if request.param == "mariadb":
        return request.getfixturevalue("mariadb_server").create_database(name)
    return f"sqlite:///{tmp_path}/shared.db"


def test_replicas_send_each_message_once(shared_database_url, smtp_server):
    """Three deliverers (as three replicas would run) on one database, racing: every message
    arrives exactly once."""
    settings = EmailSettings(
        smtp=SmtpSettings(host="127.0.0.1", port=smtp_server.port, security="none"),
        sender="gateway@example.org",
        timeout_seconds=5,
    )
    replicas = []
    for _ in range(3):
        database = Database(shared_database_url)
        replicas.append(Mail(settings, database, SECRET, "Drone"))
    replicas[0]._database.upgrade()
    for number in range(30):
        replicas[number % 3].send_test(f"user{number}@example.org", actor="admin")
    threads = [threading.Thread(target=replica.deliverer.run_once) for replica in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    recipients = sorted(str(message["To"]) for message in smtp_server.wait_for(30))
    time.sleep(0.3)
    assert len(smtp_server.messages) == 30
    assert recipients == sorted(f"user{number}@example.org" for number in range(30))
    assert replicas[1].status().pending == 0
    for replica in replicas:
        replica._database.dispose()
