"""Self-registration with address verification and admin approval, end to end in Chromium
against the gateway under gunicorn and a real SMTP server (aiosmtpd): register, the
confirmation mail's link (once), the account disabled until an admin approves it in the admin
UI, then the Registry's password path works. Around it, over HTTP: a domain not allowed, a
taken username (said whatever the address), an address already in use (the same page, no
account; its owner is mailed), an unconfirmed registration replaced by a new one with its
address and lapsing with its link, enable refused for a registration (only approve admits it), a
rejection through the admin API, hostile input, the throttle. Screenshots ``register-*``."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from gateway.storage.models import AuditEvent
from providers.local.models import LocalUser
from tests.integration.admin.test_admin_ui_browser import shoot, sign_in
from tests.support.adminapi import (
    ADMIN_PASSWORD,
    ADMIN_SEED_USERS,
    AdminClient,
    registry_answer,
    start_admin_gateway,
)
from tests.support.servers import free_port, wait_for
from tests.support.smtpserver import SmtpServer, text_part

pytestmark = pytest.mark.integration

PASSWORD = "juniper-cascade-62-orbit"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/register/verify/[A-Za-z0-9_-]{43})")


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    server = SmtpServer(tmp_path_factory.mktemp("smtp-register")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, smtp):
    port = free_port()
    gateway = start_admin_gateway(
        tmp_path_factory.mktemp("registration"),
        f"""
usernames: {{lowercase: true}}
email:
  smtp: {{host: 127.0.0.1, port: {smtp.port}, security: none}}
  sender: registry@example.org
self_service:
  max_requests_per_address: 5
  max_requests_per_client: 40
  registration:
    enabled: true
    allowed_email_domains: [example.org]
    require_email_verification: true
    require_admin_approval: true
    default_groups: [drone-pilots]
""",
        users=ADMIN_SEED_USERS,
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    yield gateway
    gateway.stop()


def browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def register(gateway, **fields) -> requests.Response:
    session = browser()
    form = session.get(f"{gateway.url}/register", timeout=10)
    assert form.status_code == 200
    data = {"username": "", "email": "", "password": PASSWORD, "confirm": PASSWORD, **fields}
    return session.post(
        f"{gateway.url}/register", data={"csrf_token": CSRF.search(form.text).group(1), **data}, timeout=30
    )


def test_register_confirm_and_approval_in_chromium(gateway, smtp, page, browser):
    smtp.clear()
    page.goto(f"{gateway.url}/login")
    page.click("#create-account")
    page.fill("#username", "gina")
    page.fill("#email", "gina@example.org")
    page.fill("#display_name", "Gina Pilot")
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    shoot(page, "60-register")
    page.click("#register")
    page.wait_for_selector("#register-check-mail")
    assert page.url == f"{gateway.url}/register?done=check_mail"  # redirected after the POST
    shoot(page, "67-register-check-mail")
    (message,) = smtp.wait_for(1)
    methods: list[str] = []
    page.on("request", lambda request: methods.append(request.method))
    page.reload()  # a reload shows the same page and posts nothing again
    page.wait_for_selector("#register-check-mail")
    assert methods and "POST" not in methods, methods
    assert message["To"] == "gina@example.org"
    link = LINK.search(text_part(message)).group(1)
    assert registry_answer(gateway, username="gina", password=PASSWORD).status_code in (401, 403)

    page.goto(link)
    shoot(page, "61-register-confirm")
    page.click("#confirm-address")
    page.wait_for_selector("#verify-awaiting")
    smtp.wait_for(2)  # "waits for approval"
    page.goto(link)  # the link works once
    assert page.locator("#verify-error").is_visible()
    assert registry_answer(gateway, username="gina", password=PASSWORD).status_code in (401, 403)

    admin = browser.new_context().new_page()
    sign_in(admin, gateway.url, "admin", ADMIN_PASSWORD)
    admin.goto(f"{gateway.url}/admin/registrations")
    assert "gina@example.org" in admin.text_content("#registration-gina")
    shoot(admin, "62-registrations")
    admin.click("#approve-gina")
    admin.wait_for_selector("#notice")
    assert admin.locator("#registration-gina").count() == 0
    messages = smtp.wait_for(3)
    assert "ready" in messages[2]["Subject"]

    assert registry_answer(gateway, username="gina", password=PASSWORD).status_code == 200
    user = AdminClient.login(gateway.url).get("/users/gina").json()
    assert "drone-pilots" in user["groups"]


def test_a_domain_not_allowed_and_a_taken_username_are_form_errors(gateway, smtp):
    other = register(gateway, username="hank", email="hank@elsewhere.test")
    assert other.status_code == 400 and "example.org" in other.text
    taken = register(gateway, username="alice", email="new-alice@example.org")
    assert taken.status_code == 400 and "not available" in taken.text
    weak = register(gateway, username="hank", email="hank@example.org", password="hank", confirm="hank")
    assert weak.status_code == 400 and "cannot be used" in weak.text


def test_an_address_in_use_gets_the_same_page_and_its_owner_is_told(gateway, smtp):
    smtp.clear()
    used = register(gateway, username="ivan", email="alice@example.org")
    assert used.status_code == 200 and 'id="register-check-mail"' in used.text
    fresh = register(gateway, username="jane", email="jane@example.org")
    assert fresh.status_code == 200
    assert CSRF.sub("", used.text) == CSRF.sub("", fresh.text)
    # Both answered by the same redirect (POST-redirect-GET), which a reload does not repeat.
    redirects = [(r.status_code, r.headers["Location"]) for r in used.history + fresh.history]
    assert redirects == [(303, "/register?done=check_mail")] * 2
    # Each address gets one mail (the same work): the new one its link, the used one the news
    # that it already has an account (only its owner reads that).
    by_address = {m["To"]: m for m in smtp.wait_for(2)}
    assert sorted(by_address) == ["alice@example.org", "jane@example.org"]
    assert "already has an account" in by_address["alice@example.org"]["Subject"]
    assert LINK.search(text_part(by_address["alice@example.org"])) is None
    assert LINK.search(text_part(by_address["jane@example.org"])) is not None
    assert AdminClient.login(gateway.url).get("/users/ivan").status_code == 404


def test_a_taken_username_is_said_whatever_the_address(gateway):
    """The username is checked before the address: probing an address with a name known to be
    taken gets the same refusal whether or not the address has an account."""
    answers = {
        address: register(gateway, username="admin", email=address)
        for address in ("alice@example.org", "nobody-known@example.org")
    }
    assert {answer.status_code for answer in answers.values()} == {400}
    pages = {CSRF.sub("", answer.text).replace(address, "ADDRESS") for address, answer in answers.items()}
    assert len(pages) == 1 and "not available" in pages.pop()


def links_to(smtp, address: str, count: int = 1) -> list[str]:
    """The verification links mailed to ``address`` (once ``count`` have arrived), oldest first:
    a mail an earlier test caused may still arrive meanwhile."""

    def found() -> list[str]:
        links = [LINK.search(text_part(m)) for m in smtp.messages if m["To"].lower() == address]
        return [link.group(1) for link in links if link] if len(links) >= count else []

    links = wait_for(found, timeout=20, message=f"{count} verification mail(s) to {address}")
    assert len(links) == count, links
    return links


def confirm(gateway, link: str) -> requests.Response:
    session = browser()
    page = session.get(link, timeout=10)
    token = CSRF.search(page.text)
    return session.post(link, data={"csrf_token": token.group(1) if token else ""}, timeout=30)


def backdate(gateway, username: str, minutes: int) -> None:
    """Make ``username``'s registration ``minutes`` older (its link keeps its own expiry)."""
    services = gateway.services()
    try:
        with services.database.session() as session:
            user = session.scalars(select(LocalUser).where(LocalUser.username == username)).one()
            user.created_at = user.created_at - timedelta(minutes=minutes)
    finally:
        services.close()


def audited(gateway, event: str, username: str) -> int:
    services = gateway.services()
    try:
        with services.database.session() as session:
            rows = session.scalars(
                select(AuditEvent).where(AuditEvent.event == event, AuditEvent.username == username)
            )
            return len(rows.all())
    finally:
        services.close()


def test_registering_again_with_an_unconfirmed_address_replaces_it(gateway, smtp):
    """A lost (or a stranger's) registration does not keep the address's owner out."""
    smtp.clear()
    assert register(gateway, username="mona", email="mona@example.org").status_code == 200
    (first,) = links_to(smtp, "mona@example.org")
    again = register(gateway, username="mona-again", email="Mona@example.org")
    assert again.status_code == 200 and 'id="register-check-mail"' in again.text
    second = links_to(smtp, "mona@example.org", 2)[1]
    assert browser().get(first, timeout=10).status_code == 410
    admin = AdminClient.login(gateway.url)
    assert admin.get("/users/mona").status_code == 404
    assert confirm(gateway, second).status_code == 200
    waiting = {r["userName"]: r["state"] for r in admin.get("/registrations").json()}
    assert waiting.get("mona-again") == "pending" and "mona" not in waiting
    assert audited(gateway, "registration_replaced", "mona") == 1


def test_an_unconfirmed_registration_lapses_with_its_link(gateway, smtp):
    smtp.clear()
    assert register(gateway, username="nora", email="nora@example.org").status_code == 200
    links_to(smtp, "nora@example.org")
    # Still within its time: the name is taken.
    assert "not available" in register(gateway, username="nora", email="other@example.org").text
    backdate(gateway, "nora", 24 * 60 + 1)
    admin = AdminClient.login(gateway.url)
    assert "nora" not in {r["userName"] for r in admin.get("/registrations").json()}
    assert admin.get("/users/nora").status_code == 404
    assert audited(gateway, "registration_expired", "nora") == 1
    # Its name and address are free again, and the new link works.
    assert register(gateway, username="nora", email="nora@example.org").status_code == 200
    link = links_to(smtp, "nora@example.org", 2)[1]
    answer = confirm(gateway, link)
    assert answer.status_code == 200 and 'id="verify-awaiting"' in answer.text


def test_enable_does_not_admit_a_waiting_registration(gateway, smtp):
    """Only approve admits a registration: enable (one user or in bulk) is refused while the
    address is unconfirmed and while it waits for approval."""
    smtp.clear()
    assert register(gateway, username="olga", email="olga@example.org").status_code == 200
    (link,) = links_to(smtp, "olga@example.org")
    admin = AdminClient.login(gateway.url)
    for state in ("unverified", "pending"):
        one = admin.put("/users/olga", json={"enabled": True, "displayName": "Olga"})
        assert one.status_code == 409 and "Registrations" in one.json()["error"], one.text
        bulk = admin.post("/users/bulk", json={"action": "enable", "userNames": ["olga"]}).json()
        assert bulk["done"] == 0 and bulk["results"][0]["status"] == 409
        user = admin.get("/users/olga").json()
        assert user["enabled"] is False and user.get("displayName") != "Olga"
        assert registry_answer(gateway, username="olga", password=PASSWORD).status_code in (401, 403)
        if state == "unverified":
            assert confirm(gateway, link).status_code == 200
    assert "approve" in admin.put("/users/olga", json={"enabled": True}).json()["error"]
    assert admin.post("/registrations/olga/approve").status_code in (200, 204)
    assert registry_answer(gateway, username="olga", password=PASSWORD).status_code == 200


def test_an_admin_rejects_a_registration_through_the_api(gateway, smtp):
    assert register(gateway, username="kurt", email="kurt@example.org").status_code == 200
    admin = AdminClient.login(gateway.url)
    waiting = {r["userName"]: r for r in admin.get("/registrations").json()}
    assert waiting["kurt"]["state"] == "unverified"
    assert admin.post("/registrations/kurt/approve").status_code == 404  # not confirmed yet
    assert admin.delete("/registrations/kurt").status_code == 204
    assert admin.get("/users/kurt").status_code == 404
    assert admin.delete("/registrations/alice").status_code == 404  # an ordinary user is no registration


@pytest.mark.parametrize(
    "fields",
    [
        {"username": "x" * 2000, "email": "l@example.org"},
        {"username": "a\x00b", "email": "l@example.org"},
        {"username": "<script>", "email": "l@example.org"},
        {"username": "lena", "email": "not-an-address"},
        {"username": "lena", "email": "l@example.org\r\nBcc: x@example.org"},
        {"username": "lena", "email": "l@example.org", "confirm": "other"},
        {"username": "lena", "email": "l@example.org", "display_name": "n" * 900},
    ],
)
def test_hostile_registration_input_gets_a_form_error(gateway, fields):
    answer = register(gateway, **fields)
    assert answer.status_code in (400, 429), answer.status_code
    assert "<script>" not in answer.text.replace("&lt;script&gt;", "")


def test_bad_verification_links_get_a_page(gateway):
    for path in ("/register/verify/short", "/register/verify/" + "B" * 43):
        assert browser().get(f"{gateway.url}{path}", timeout=10).status_code == 410
        assert browser().post(f"{gateway.url}{path}", timeout=10).status_code == 403  # no CSRF token
