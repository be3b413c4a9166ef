"""Who the self-service pages reach, against the gateway under gunicorn and a real SMTP server
(aiosmtpd): forgot-password by a mixed-case username with ``usernames.lowercase: false``; the
per-client limits of forgot-password and registration count the client behind a trusted proxy
(``GATEWAY_TRUSTED_PROXIES``), not the proxy; and a provider added in the admin API
(``provider_source: database``) has its ``password_reset_url`` listed on ``/password/forgot``."""

from __future__ import annotations

import re

import pytest
import requests

from tests.support.adminapi import ADMIN_SEED_USERS, AdminClient, start_admin_gateway
from tests.support.servers import free_port, wait_for
from tests.support.smtpserver import SmtpServer, text_part

pytestmark = pytest.mark.integration

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
RESET_LINK = re.compile(r"/password/reset/[A-Za-z0-9_-]{43}")
PASSWORD = "juniper-cascade-62-orbit"
PER_CLIENT = 2
USERS = ADMIN_SEED_USERS + [{"username": "Ann", "email": "ann.keep@example.org"}]


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    server = SmtpServer(tmp_path_factory.mktemp("smtp-reach")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, smtp):
    port = free_port()
    gateway = start_admin_gateway(
        tmp_path_factory.mktemp("selfservice-reach"),
        f"""
usernames: {{lowercase: false}}
email:
  smtp: {{host: 127.0.0.1, port: {smtp.port}, security: none}}
  sender: registry@example.org
self_service:
  password_reset: true
  max_requests_per_address: 3
  max_requests_per_client: {PER_CLIENT}
  registration:
    enabled: true
    allowed_email_domains: [example.org]
""",
        users=USERS,
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}", "GATEWAY_TRUSTED_PROXIES": "127.0.0.1"},
    )
    yield gateway
    gateway.stop()


def post_form(gateway, path: str, client: str, **fields) -> requests.Response:
    """GET the form and POST it as a proxy at 127.0.0.1 forwarding for ``client``."""
    session = requests.Session()
    session.trust_env = False
    session.headers["X-Forwarded-For"] = client
    form = session.get(f"{gateway.url}{path}", timeout=10)
    assert form.status_code == 200, form.text
    return session.post(
        f"{gateway.url}{path}", data={"csrf_token": CSRF.search(form.text).group(1), **fields}, timeout=30
    )


def forgot(gateway, identifier: str, client: str) -> requests.Response:
    return post_form(gateway, "/password/forgot", client, identifier=identifier)


def register(gateway, username: str, client: str) -> requests.Response:
    return post_form(
        gateway,
        "/register",
        client,
        username=username,
        email=f"{username}@example.org",
        password=PASSWORD,
        confirm=PASSWORD,
    )


def test_forgot_password_finds_a_mixed_case_username(gateway, smtp):
    smtp.clear()
    assert forgot(gateway, "Ann", "192.0.2.10").status_code == 200
    (message,) = smtp.wait_for(1)
    assert message["To"] == "ann.keep@example.org"
    assert RESET_LINK.search(text_part(message))


def test_the_forgot_password_limit_counts_each_client_behind_the_proxy(gateway):
    first = [forgot(gateway, f"nobody-{n}", "203.0.113.5").status_code for n in range(PER_CLIENT + 1)]
    assert first == [200] * PER_CLIENT + [429]
    # Another person behind the same proxy is not held back by the first one's requests.
    assert forgot(gateway, "nobody-else", "203.0.113.6").status_code == 200


def test_the_registration_limit_counts_each_client_behind_the_proxy(gateway):
    first = [register(gateway, f"pilot{n}", "198.51.100.7").status_code for n in range(PER_CLIENT + 1)]
    assert first == [200] * PER_CLIENT + [429]
    assert register(gateway, "pilot-other", "198.51.100.8").status_code == 200


def test_a_provider_kept_in_the_database_lists_its_reset_link(gateway):
    admin = AdminClient.login(gateway.url)
    added = admin.post(
        "/providers",
        json={
            "id": "corp",
            "type": "ldap",
            "settings": {
                "preset": "openldap",
                "servers": ["ldap://127.0.0.1:9"],  # never asked: only its settings are shown
                "user": {"base": "ou=people,dc=example,dc=org"},
                "groups": {"base": "ou=groups,dc=example,dc=org", "strategies": ["member"]},
                "password_reset_url": "https://password.example.com/reset",
            },
        },
    )
    assert added.status_code in (200, 201), added.text

    def listed() -> bool:
        page = requests.get(f"{gateway.url}/password/forgot", timeout=10).text
        return "https://password.example.com/reset" in page

    assert wait_for(listed, timeout=20, message="the database provider's reset link on /password/forgot")
