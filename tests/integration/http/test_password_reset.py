"""Password reset by e-mail against the gateway under gunicorn and a real SMTP server
(aiosmtpd on loopback): the mail arrives, its link works once (in Chromium too), the new password
works on the Registry's path and the old one does not; an unknown name or address gets the same
page byte for byte (but for the CSRF token) and no mail; hostile input gets a 4xx page;
directory users are pointed to their provider; the requests are throttled, and the mails one
person receives are bounded however they are asked for.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from sqlalchemy import select

from gateway.storage.models import AuditEvent
from tests.integration.admin.test_admin_ui_browser import shoot
from tests.support.adminapi import ADMIN_SEED_USERS, PASSWORD, registry_answer, start_admin_gateway
from tests.support.servers import free_port
from tests.support.smtpserver import SmtpServer, html_part, text_part

pytestmark = pytest.mark.integration

NEW_PASSWORD = "amber-quarry-71-lighthouse"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/password/reset/[A-Za-z0-9_-]{43})")
USERS = ADMIN_SEED_USERS + [
    {"username": "dora", "email": "dora@example.org"},
    {"username": "erik", "email": "erik@example.org"},
    {"username": "fay", "email": "fay@example.org"},
    {"username": "gus", "email": "gus@example.org"},
    {"username": "hal", "email": "hal@example.org"},  # asked for by one test only: its own window
]


def config(smtp_port: int) -> str:
    return f"""
usernames: {{lowercase: true}}
email:
  smtp: {{host: 127.0.0.1, port: {smtp_port}, security: none}}
  sender: registry@example.org
  timeout_seconds: 3
  max_attempts: 2
  retry_base_seconds: 1
self_service:
  password_reset: true
  reset_link_minutes: 30
  max_requests_per_address: 3
  max_requests_per_client: 1000
"""


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    server = SmtpServer(tmp_path_factory.mktemp("smtp")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, smtp):
    port = free_port()
    gateway = start_admin_gateway(
        tmp_path_factory.mktemp("password-reset"),
        config(smtp.port),
        users=USERS,
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    yield gateway
    gateway.stop()


def browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def ask(gateway, identifier: str, session: requests.Session | None = None) -> requests.Response:
    session = session or browser()
    form = session.get(f"{gateway.url}/password/forgot", timeout=10)
    assert form.status_code == 200, form.text
    return session.post(
        f"{gateway.url}/password/forgot",
        data={"csrf_token": CSRF.search(form.text).group(1), "identifier": identifier},
        timeout=30,
    )


def set_password(gateway, link: str, password: str, confirm: str | None = None) -> requests.Response:
    session = browser()
    form = session.get(link, timeout=10)
    token = CSRF.search(form.text)
    return session.post(
        link,
        data={
            "csrf_token": token.group(1) if token else "",
            "password": password,
            "confirm": password if confirm is None else confirm,
        },
        timeout=30,
    )


def queue_drained(gateway, timeout: float = 20.0) -> None:
    """Wait until the deliverer has handled everything queued (requests expanded, mail sent)."""
    services = gateway.services()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if services.mail.status().pending == 0:
                return
            time.sleep(0.05)
        raise AssertionError(f"mail queue not drained: {services.mail.status()}")
    finally:
        services.close()


def audited(gateway, event: str, username: str) -> int:
    """How many ``event`` audit rows name ``username``."""
    services = gateway.services()
    try:
        with services.database.session() as session:
            return len(
                session.scalars(
                    select(AuditEvent).where(AuditEvent.event == event, AuditEvent.username == username)
                ).all()
            )
    finally:
        services.close()


def without_csrf(html: str) -> str:
    return CSRF.sub('name="csrf_token" value=""', html)


def test_the_link_works_once_and_ends_the_old_password(gateway, smtp):
    smtp.clear()
    answer = ask(gateway, "alice")
    assert answer.status_code == 200 and 'id="reset-sent"' in answer.text
    (message,) = smtp.wait_for(1)
    assert message["To"] == "alice@example.org"
    assert "DroneDB Registry" in message["Subject"] and "DroneDB Registry" in str(message["From"])
    link = LINK.search(text_part(message)).group(1)
    assert link in html_part(message)

    assert registry_answer(gateway, username="alice", password=PASSWORD).status_code == 200
    done = set_password(gateway, link, NEW_PASSWORD)
    assert done.status_code == 200 and 'id="reset-done"' in done.text

    assert registry_answer(gateway, username="alice", password=NEW_PASSWORD).status_code == 200
    assert registry_answer(gateway, username="alice", password=PASSWORD).status_code == 401
    again = browser().get(link, timeout=10)
    assert again.status_code == 410 and "already been used" in again.text
    assert set_password(gateway, link, "another-password-of-9-words").status_code in (403, 410)
    # Both ends are audited. The request's row is written in the deliverer's transaction that
    # expands the request (on SQLite a second connection waited for its lock and was lost).
    assert audited(gateway, "password_reset_requested", "alice") == 1
    assert audited(gateway, "password_reset_by_email", "alice") == 1


def test_reloading_the_sent_page_asks_for_no_second_mail(gateway, smtp):
    """The accepted request is answered with a redirect (POST-redirect-GET): the "check your
    mail" page is a GET, so a reload shows it again without posting (and mailing) again."""
    smtp.clear()
    answer = ask(gateway, "gus")
    assert [step.status_code for step in answer.history] == [303]
    assert answer.url == f"{gateway.url}/password/forgot?sent=1"
    assert answer.status_code == 200 and 'id="reset-sent"' in answer.text
    reloaded = browser().get(answer.url, timeout=10)
    assert reloaded.status_code == 200 and 'id="reset-sent"' in reloaded.text
    (message,) = smtp.wait_for(1)
    assert message["To"] == "gus@example.org"
    queue_drained(gateway)
    # One audit row, written in the transaction that queued the mail (a second connection
    # waited for SQLite's write lock and lost the row).
    assert audited(gateway, "password_reset_requested", "gus") == 1
    assert "audit write failed" not in gateway.server.log_text()


def test_an_unknown_name_gets_the_same_page_and_no_mail(gateway, smtp):
    smtp.clear()
    known = ask(gateway, "bob@example.org")  # bob has no address: no mail either
    unknown = ask(gateway, "nobody-here@example.org")
    by_name = ask(gateway, "nobody-here")
    assert known.status_code == unknown.status_code == by_name.status_code == 200
    assert without_csrf(known.text) == without_csrf(unknown.text) == without_csrf(by_name.text)
    queue_drained(gateway)
    time.sleep(0.3)
    assert smtp.messages == []


def test_an_address_finds_its_user_and_a_new_link_replaces_the_old(gateway, smtp):
    smtp.clear()
    ask(gateway, "Dora@Example.org")
    first = LINK.search(text_part(smtp.wait_for(1)[0])).group(1)
    ask(gateway, "dora")
    second = LINK.search(text_part(smtp.wait_for(2)[1])).group(1)
    assert first != second
    assert browser().get(first, timeout=10).status_code == 410
    assert browser().get(second, timeout=10).status_code == 200


def test_the_password_policy_and_a_mismatch_keep_the_link(gateway, smtp):
    smtp.clear()
    ask(gateway, "erik")
    link = LINK.search(text_part(smtp.wait_for(1)[0])).group(1)
    weak = set_password(gateway, link, "short")
    assert weak.status_code == 400 and "cannot be used" in weak.text
    mismatch = set_password(gateway, link, NEW_PASSWORD, "something-else-entirely")
    assert mismatch.status_code == 400 and "not the same" in mismatch.text
    assert browser().get(link, timeout=10).status_code == 200  # still usable


def test_requests_are_throttled_per_address(gateway, smtp):
    answers = [ask(gateway, "throttled-name").status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]


def test_asking_by_name_and_by_address_mails_one_person_at_most_the_limit(gateway, smtp):
    smtp.clear()
    typed = ["hal", "hal@example.org", "hal", "Hal@Example.org"]  # under each text's own limit of 3
    assert [ask(gateway, text).status_code for text in typed] == [200] * 4
    smtp.wait_for(3)
    queue_drained(gateway)  # the fourth request is expanded too, and mails nothing
    assert [m["To"] for m in smtp.messages] == ["hal@example.org"] * 3


@pytest.mark.parametrize(
    "identifier", ["", " ", "x" * 5000, "a\x00b", "' OR 1=1 --", "<script>alert(1)</script>", "é" * 400]
)
def test_hostile_identifiers_get_a_page_never_a_500(gateway, identifier):
    answer = ask(gateway, identifier)
    assert answer.status_code in (200, 400, 429), answer.status_code
    assert "<script>alert(1)</script>" not in answer.text


@pytest.mark.parametrize(
    "path", ["/password/reset/short", "/password/reset/" + "A" * 43, "/password/reset/%00" + "A" * 42]
)
def test_bad_links_get_a_page(gateway, path):
    answer = browser().get(f"{gateway.url}{path}", timeout=10)
    assert answer.status_code in (400, 404, 410), answer.status_code
    posted = browser().post(f"{gateway.url}{path}", data={"password": "x", "confirm": "x"}, timeout=10)
    assert posted.status_code in (400, 403, 404, 410), posted.status_code


def test_a_form_without_its_csrf_token_is_refused(gateway):
    session = browser()
    session.get(f"{gateway.url}/password/forgot", timeout=10)
    answer = session.post(f"{gateway.url}/password/forgot", data={"identifier": "alice"}, timeout=10)
    assert answer.status_code == 403


def test_the_link_in_chromium(gateway, smtp, page):
    smtp.clear()
    page.goto(f"{gateway.url}/login")
    page.click("#forgot-password")
    shoot(page, "63-password-forgot")
    page.fill("#identifier", "fay@example.org")
    page.click("#send-link")
    page.wait_for_selector("#reset-sent")
    shoot(page, "64-password-forgot-sent")
    link = LINK.search(text_part(smtp.wait_for(1)[0])).group(1)
    page.goto(link)
    shoot(page, "65-password-reset")
    page.fill("#password", NEW_PASSWORD)
    page.fill("#confirm", NEW_PASSWORD)
    page.click("#set-password")
    page.wait_for_selector("#reset-done")
    assert registry_answer(gateway, username="fay", password=NEW_PASSWORD).status_code == 200
    page.goto(link)
    assert page.locator("#reset-error").is_visible()
    assert page.locator("#reset-form").count() == 0
