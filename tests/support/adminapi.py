"""Helpers for admin API tests: a gateway whose mapping lives in the database, and a client
that logs in through ``POST /api/token`` and sends the bearer token."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import requests

from tests.support.harness import ADMIN_PASSWORD, PASSWORD, GatewayUnderTest, start_gateway

# No mapping: section, so the policy is managed in the database (editable over the API).
# Local groups "drone-pilots" and "drone-admins" exist (the seed users create them).
ADMIN_CONFIG = """
usernames: {lowercase: true}
"""

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')  # an admin UI form's CSRF token

ADMIN_SEED_USERS: list[dict[str, Any]] = [
    {"username": "alice", "email": "alice@example.org", "groups": ["drone-pilots"]},
    {"username": "bob", "groups": ["drone-admins"]},
    {"username": "carol"},
]


def start_admin_gateway(
    tmp_path: Path, config_text: str = ADMIN_CONFIG, *, users: list[dict[str, Any]] | None = None, **options
) -> GatewayUnderTest:
    """A gateway with the local admin (password ADMIN_PASSWORD) and ADMIN_SEED_USERS
    (password PASSWORD); the mapping policy starts empty, in the database."""
    return start_gateway(tmp_path, config_text, users=ADMIN_SEED_USERS if users is None else users, **options)


def admin_ui_browser(gateway_url: str) -> requests.Session:
    """A browser session signed in to the admin UI (the sign-in form) as the local admin."""
    browser = requests.Session()
    browser.trust_env = False
    form = browser.get(f"{gateway_url}/login", timeout=10)
    browser.post(
        f"{gateway_url}/login",
        data={"csrf_token": CSRF.search(form.text).group(1), "username": "admin", "password": ADMIN_PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    return browser


class AdminClient:
    """requests, with a bearer token for one user, against one gateway."""

    def __init__(self, base_url: str, token: str | None = None):
        self.base_url = base_url
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def login(cls, base_url: str, username: str = "admin", password: str = ADMIN_PASSWORD) -> AdminClient:
        response = requests.post(
            f"{base_url}/api/token", json={"username": username, "password": password}, timeout=30
        )
        assert response.status_code == 200, response.text
        return cls(base_url, response.json()["access_token"])

    @property
    def token(self) -> str:
        return self.http.headers["Authorization"].split(" ", 1)[1]

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.http.request(method, f"{self.base_url}/admin/api{path}", **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs):
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.request("DELETE", path, **kwargs)


def registry_token(gateway: GatewayUnderTest, username: str) -> str:
    """A Registry token (what the xAuthToken cookie carries) for a new session of the user,
    made in-process: admin API tokens from POST /api/token are not Registry tokens."""

    services = gateway.services()
    try:
        identity = services.user_operations().identity(username)
        assert identity is not None, username
        return services.sso.mint_for(services.sso.open_session(identity))
    finally:
        services.close()


def admin_api_works(gateway: GatewayUnderTest, token: str) -> bool:
    """Whether an admin API token still opens the API (its session is alive)."""
    status = AdminClient(gateway.url, token).get("/me").status_code
    assert status in (200, 401), status
    return status == 200


def registry_answer(gateway: GatewayUnderTest, **form) -> requests.Response:
    """What the Registry gets from the contract endpoint for ``form``."""
    return requests.post(f"{gateway.url}/api/authenticate", data=form, timeout=30)


__all__ = [
    "ADMIN_CONFIG",
    "ADMIN_PASSWORD",
    "ADMIN_SEED_USERS",
    "AdminClient",
    "PASSWORD",
    "admin_api_works",
    "registry_answer",
    "registry_token",
    "start_admin_gateway",
]
