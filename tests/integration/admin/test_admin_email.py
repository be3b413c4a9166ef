"""E-mail for admins, against the gateway under gunicorn and a real SMTP server (aiosmtpd with
STARTTLS, a self-signed certificate and a login): the settings in force without the password
(admin API and UI), a test e-mail that arrives, bad addresses refused with 400, and an SMTP
outage (nothing listening) that leaves the request fast and the mail visible as failed. The
UI page in Chromium at laptop and phone width (screenshots ``admin-50-email-*``)."""

from __future__ import annotations

import time

import pytest

from tests.integration.admin.test_admin_ui_browser import CSRF, http_sign_in, shoot, sign_in
from tests.support.adminapi import ADMIN_PASSWORD, AdminClient, start_admin_gateway
from tests.support.servers import free_port
from tests.support.smtpserver import SmtpServer, text_part

pytestmark = pytest.mark.integration
SMTP_PASSWORD = "smtp-secret-never-shown-7"


def _config(port: int, security: str, ca_file: str | None, attempts: int = 8) -> str:
    login = f"username: mailer, password_env: TEST_SMTP_PASSWORD, ca_file: '{ca_file}'" if ca_file else ""
    return f"""
usernames: {{lowercase: true}}
email:
  smtp: {{host: 127.0.0.1, port: {port}, security: {security}{", " + login if login else ""}}}
  sender: registry@example.org
  brand: Drone Test Registry
  timeout_seconds: 2
  max_attempts: {attempts}
  retry_base_seconds: 1
"""


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    server = SmtpServer(
        tmp_path_factory.mktemp("smtp-tls"), "starttls", login=("mailer", SMTP_PASSWORD)
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, smtp):
    port = free_port()
    gateway = start_admin_gateway(
        tmp_path_factory.mktemp("admin-email"),
        _config(smtp.port, "starttls", str(smtp.ca_file)),
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}", "TEST_SMTP_PASSWORD": SMTP_PASSWORD},
    )
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def outage_gateway(tmp_path_factory):
    port = free_port()
    gateway = start_admin_gateway(
        tmp_path_factory.mktemp("admin-email-outage"),
        _config(free_port(), "none", None, attempts=2),
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    yield gateway
    gateway.stop()


def test_the_api_shows_the_settings_without_the_password_and_sends_a_test(gateway, smtp):
    admin = AdminClient.login(gateway.url)
    overview = admin.get("/email")
    assert overview.status_code == 200
    assert SMTP_PASSWORD not in overview.text
    settings = overview.json()["settings"]
    assert settings["host"] == "127.0.0.1" and settings["security"] == "starttls"
    assert settings["username"] == "mailer" and settings["passwordSet"] is True
    assert settings["brand"] == "Drone Test Registry"

    smtp.clear()
    sent = admin.post("/email/test", json={"to": "ops@example.org"})
    assert sent.status_code == 202, sent.text
    (message,) = smtp.wait_for(1)
    assert message["To"] == "ops@example.org" and "Drone Test Registry" in message["Subject"]
    assert "admin" in text_part(message)


@pytest.mark.parametrize(
    "body",
    [
        {"to": "not an address"},
        {"to": "a@b.org\r\nBcc: x@y.org"},
        {"to": ""},
        {"to": 5},
        {},
        {"to": "x" * 400},
    ],
)
def test_bad_test_addresses_are_400(gateway, body):
    answer = AdminClient.login(gateway.url).post("/email/test", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")


def test_an_outage_leaves_the_request_fast_and_the_mail_failed(outage_gateway):
    admin = AdminClient.login(outage_gateway.url)
    started = time.monotonic()
    assert admin.post("/email/test", json={"to": "ops@example.org"}).status_code == 202
    assert time.monotonic() - started < 2
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        queue = admin.get("/email").json()["queue"]
        if queue["failed"]:
            break
        time.sleep(0.2)
    assert queue["failed"] == 1 and queue["pending"] == 0, queue
    assert queue["failedMails"][0]["recipient"] == "ops@example.org"
    assert queue["failedMails"][0]["error"]
    metrics = AdminClient(outage_gateway.url).http.get(f"{outage_gateway.url}/metrics", timeout=10).text
    assert 'gateway_mail_queue_rows{state="failed"} 1.0' in metrics


def test_the_email_page_in_chromium(gateway, smtp, page):
    sign_in(page, gateway.url, "admin", ADMIN_PASSWORD)
    page.goto(f"{gateway.url}/admin/email")
    assert page.text_content("#email-server").strip() == f"127.0.0.1:{smtp.port}"
    assert SMTP_PASSWORD not in page.content()
    smtp.clear()
    page.fill("#to", "ops@example.org")
    page.click("#email-test")
    page.wait_for_selector("#notice")
    smtp.wait_for(1)
    shoot(page, "50-email")


def test_the_email_form_refuses_bad_input_with_a_page(gateway):
    session = http_sign_in(gateway, "admin", ADMIN_PASSWORD)
    form = session.get(f"{gateway.url}/admin/email", timeout=10)
    token = CSRF.search(form.text).group(1)
    for to in ("nope", "a@b.org\nBcc: x@y.org", "x" * 5000):
        answer = session.post(
            f"{gateway.url}/admin/email/test", data={"csrf_token": token, "to": to}, timeout=10
        )
        assert answer.status_code == 400 and 'id="email-error"' in answer.text
    assert (
        session.post(f"{gateway.url}/admin/email/test", data={"to": "a@b.org"}, timeout=10).status_code == 403
    )
