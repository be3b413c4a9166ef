"""Self-tests of the browser-test infrastructure (tests.support.browser,
tests.support.registrystub) in a real headless Chromium, without the gateway: a tiny
local app plays the gateway at ``auth.example.test`` (sets the ``xAuthToken``
cookie for ``Domain=example.test``, answers the token relay, serves the logout
page), the Registry stub plays ``hub.example.test``."""

from __future__ import annotations

import json
import threading
from urllib.parse import quote

import pytest

from tests.support.browser import SCREENSHOT_DIR, chromium_executable, save_screenshot
from tests.support.registrystub import BackgroundWsgiServer, RegistryStub, logout, read_login_page
from tests.support.servers import ServerBinaryMissing

pytestmark = pytest.mark.integration

AUTH_HOST = "auth.example.test"
HUB_HOST = "hub.example.test"
# Like a JWT, plus base64 padding: a raw "=" the Hub's cookie parser would cut at.
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLV8=="
ANSWER = {"username": "alice", "roles": ["pilot"], "maxStorageMB": 51200}
FLOAT_TOKEN = "float.quota.token"
FLOAT_ANSWER_TEXT = '{"username": "alice", "roles": [], "maxStorageMB": 51200.0}'


class FakeGateway:
    """What the gateway's SSO side does, reduced to the cookie handling."""

    def __init__(self):
        from flask import Flask, Response, redirect, request

        self.hub_login_url = None  # set once the stub runs
        self.frame_ancestors = None  # CSP frame-ancestors of /sso/logout
        self.received = []  # (form, Accept header) of /auth calls
        self.logouts = 0
        self._lock = threading.Lock()
        app = Flask(__name__)

        @app.get("/sso/start")
        def start():
            value = f"{request.args.get('token', TOKEN)}|{self.url}/sso/logout"
            if request.args.get("raw") != "1":
                value = quote(value, safe="")
            response = redirect(self.hub_login_url, code=302)
            response.headers.add(
                "Set-Cookie", f"xAuthToken={value}; Domain=example.test; Path=/; SameSite=Lax"
            )
            return response

        @app.post("/auth")
        def auth():
            with self._lock:
                self.received.append((request.form.to_dict(), request.headers.get("Accept")))
            if request.form.get("token") == TOKEN:
                return Response(json.dumps(ANSWER), mimetype="application/json")
            if request.form.get("token") == FLOAT_TOKEN:
                return Response(FLOAT_ANSWER_TEXT, mimetype="application/json")
            return Response(json.dumps({"error": "invalid token"}), status=401, mimetype="application/json")

        @app.get("/sso/logout")
        def sso_logout():
            with self._lock:
                self.logouts += 1
            response = Response(
                "<!DOCTYPE html><title>signed out</title><p id=done>signed out</p>", mimetype="text/html"
            )
            response.headers["Content-Security-Policy"] = f"frame-ancestors {self.frame_ancestors}"
            response.headers.add(
                "Set-Cookie",
                "xAuthToken=; Domain=example.test; Path=/; Max-Age=0; "
                "Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax",
            )
            return response

        self.server = BackgroundWsgiServer(app, name="fake-gateway")
        self.port = self.server.port
        self.url = f"http://{AUTH_HOST}:{self.port}"


@pytest.fixture(scope="module")
def fake_gateway():
    gateway = FakeGateway()
    yield gateway
    gateway.server.stop()


@pytest.fixture(scope="module")
def stub(fake_gateway):
    # The relay goes to the auth.example.test name: the stub maps it to 127.0.0.1.
    registry = RegistryStub.start(f"{fake_gateway.url}/auth")
    fake_gateway.hub_login_url = registry.login_url(HUB_HOST)
    fake_gateway.frame_ancestors = registry.origin(HUB_HOST)
    yield registry
    registry.stop()


@pytest.fixture(autouse=True)
def _fresh(stub, fake_gateway):
    stub.clear_calls()
    fake_gateway.frame_ancestors = stub.origin(HUB_HOST)
    with fake_gateway._lock:
        fake_gateway.received.clear()


def test_sso_cookie_login_and_logout(page, stub, fake_gateway):
    page.goto(f"{fake_gateway.url}/sso/start")
    assert page.url == stub.login_url(HUB_HOST)
    shown = read_login_page(page)

    assert shown["status"] == "ok", shown
    assert shown["username"] == "alice"
    assert json.loads(shown["roles"]) == ["pilot"]
    assert shown["quota"] == "51200 number integer"
    assert json.loads(shown["answer"]) == ANSWER
    assert shown["token"] == TOKEN
    assert shown["logout-url"] == f"{fake_gateway.url}/sso/logout"

    (call,) = stub.calls
    assert call["path"] == "token"
    assert call["fields"] == {"token": TOKEN}
    assert call["status"] == 200 and call["answered"] == 200
    assert call["json"] == ANSWER and type(call["json"]["maxStorageMB"]) is int
    assert fake_gateway.received == [({"token": TOKEN}, "application/json")]

    screenshot = save_screenshot(page, "registry-stub-login")
    assert screenshot.parent == SCREENSHOT_DIR
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    result = logout(page)
    assert result["logged-out"] == "logged out"
    assert result["frame_url"] == f"{fake_gateway.url}/sso/logout"
    assert result["frame_text"] == "signed out"  # framing was allowed
    assert "xAuthToken" not in result["cookies-after"]
    assert "xAuthToken" not in page.evaluate("document.cookie")
    assert not [c for c in page.context.cookies() if c["name"] == "xAuthToken"]
    assert fake_gateway.logouts >= 1


def test_raw_equals_sign_is_cut_by_the_hub_parser(page, stub, fake_gateway):
    """Why the gateway percent-encodes: unencoded, the Hub keeps only the text
    between the first and second '=' of the cookie pair."""
    page.goto(f"{fake_gateway.url}/sso/start?raw=1")
    shown = read_login_page(page)
    truncated = TOKEN.split("=")[0]
    assert shown["token"] == truncated
    assert shown["logout-url"] == ""  # lost with everything after '='
    assert shown["status"] == "denied 401"
    (call,) = stub.calls
    assert call["fields"] == {"token": truncated}
    assert call["status"] == 401 and call["answered"] == 401


def test_logout_frame_refused_by_frame_ancestors_is_detected(page, stub, fake_gateway):
    """A logout page whose frame-ancestors does not name the Registry origin:
    the iframe still fires 'load' (Chromium shows an error page), which
    registrystub.logout reports as no frame text."""
    fake_gateway.frame_ancestors = "http://elsewhere.example.test"
    page.goto(f"{fake_gateway.url}/sso/start")
    assert read_login_page(page)["status"] == "ok"
    result = logout(page)
    assert result["logged-out"] == "logged out"
    assert result["frame_url"].startswith("chrome-error:"), result
    assert result["frame_text"] is None, result
    # (Chromium still applies the refused response's Set-Cookie: a cleared
    # cookie alone does not prove the logout page may be framed.)


def test_quota_shows_a_float_the_registry_would_ignore(page, stub, fake_gateway):
    page.goto(f"{fake_gateway.url}/sso/start?token={FLOAT_TOKEN}")
    shown = read_login_page(page)
    assert shown["status"] == "ok"
    assert shown["quota"] == "51200.0 number integer"  # JS can't tell; the source text can
    assert type(stub.calls[0]["json"]["maxStorageMB"]) is float


def test_no_cookie_means_no_token(page, stub):
    page.goto(stub.url_for(HUB_HOST) + "/")
    assert page.url == stub.login_url(HUB_HOST)
    shown = read_login_page(page)
    assert shown["status"] == "no-token"
    assert stub.calls == []


def test_relay_answers_like_the_registry(stub, fake_gateway):
    """The stand-in's own /users/authenticate without a browser: non-2xx -> 401 with the
    Registry's ErrorResponse (``Models/ErrorResponse.cs``: error, noRetry)."""
    import requests

    with requests.Session() as session:
        session.trust_env = False
        ok = session.post(f"{stub.url}/users/authenticate", data={"token": TOKEN}, timeout=10)
        bad = session.post(f"{stub.url}/users/authenticate", data={"token": "nope"}, timeout=10)
    assert ok.status_code == 200 and ok.json() == ANSWER
    assert bad.status_code == 401 and bad.json() == {"error": "Unauthorized", "noRetry": False}


def test_missing_chromium_is_an_error_naming_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("TEST_CHROMIUM", str(tmp_path / "no-such-chromium"))
    with pytest.raises(ServerBinaryMissing, match="'chromium'"):
        chromium_executable()
