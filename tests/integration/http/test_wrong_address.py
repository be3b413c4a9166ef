"""A gateway opened at another address than its public URL, under gunicorn: headless Chromium
opens the sign-in form at 127.0.0.1 while the public URL names ``gateway.example.test`` (the
browser fixture maps ``*.example.test`` to 127.0.0.1) and sees the page that names both
addresses and the setting to change, and the server logs one WARNING line naming both
origins; the page's link leads to a form that signs in. A loopback public URL
(``http://localhost:<port>``, the container's default) signs in at 127.0.0.1 too, and
``gateway serve --bind`` without GATEWAY_PUBLIC_URL accepts forms at the address it binds.
Screenshots at desktop (1280×800) and phone (390×844) width: ``origins-*``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import pytest
import requests

from tests.support.adminapi import ADMIN_CONFIG, ADMIN_PASSWORD, start_admin_gateway
from tests.support.browser import save_screenshot
from tests.support.paths import REPO_ROOT
from tests.support.servers import free_port, wait_for

pytestmark = pytest.mark.integration

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _gateway(tmp_path_factory, name: str, public_host: str):
    port = free_port()
    return start_admin_gateway(
        tmp_path_factory.mktemp(name),
        ADMIN_CONFIG,
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://{public_host}:{port}"},
    )


@pytest.fixture(scope="module")
def named_gateway(tmp_path_factory):
    """A gateway listening on 127.0.0.1 whose public URL is http://gateway.example.test:<port>."""
    gateway = _gateway(tmp_path_factory, "origins-named", "gateway.example.test")
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def loopback_gateway(tmp_path_factory):
    """A gateway whose public URL is http://localhost:<port>, as the container's default is."""
    gateway = _gateway(tmp_path_factory, "origins-loopback", "localhost")
    yield gateway
    gateway.stop()


def _sign_in(page, base_url: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#username", "admin")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("#sign-in")
    page.wait_for_load_state()


def _warnings(gateway) -> list[dict]:
    lines = [line for line in gateway.server.log_text().splitlines() if line.startswith("{")]
    return [
        entry
        for entry in map(json.loads, lines)
        if entry.get("logger") == "gateway.http.browser" and entry["level"] == "WARNING"
    ]


def test_a_browser_at_another_address_sees_which_address_to_use_and_which_setting(named_gateway, page):
    port = named_gateway.server.port
    used, public = f"http://127.0.0.1:{port}", f"http://gateway.example.test:{port}"
    page.set_viewport_size(DESKTOP)
    _sign_in(page, used)

    message = page.inner_text("#error-message")
    assert message == f"You opened {used}; this gateway's address is {public}."
    body = page.inner_text("main")
    assert f"Open {public}/login, or set GATEWAY_PUBLIC_URL to {used} if that is the address" in body
    assert "expired" not in body
    save_screenshot(page, "origins-wrong-address-desktop")
    page.set_viewport_size(PHONE)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    save_screenshot(page, "origins-wrong-address-phone")

    (warning,) = _warnings(named_gateway)
    assert (warning["posted_origin"], warning["public_origin"]) == (used, public)
    assert ADMIN_PASSWORD not in named_gateway.server.log_text()

    page.set_viewport_size(DESKTOP)
    page.click("a.button")  # the way out: the public URL's own form
    page.wait_for_load_state()
    assert page.url == f"{public}/login"
    _sign_in(page, public)
    assert page.url.startswith(public) and "/login" not in page.url
    assert len(_warnings(named_gateway)) == 1


def test_a_loopback_public_url_also_signs_in_at_127_0_0_1(loopback_gateway, page):
    port = loopback_gateway.server.port
    _sign_in(page, f"http://127.0.0.1:{port}")
    assert "/login" not in page.url, page.inner_text("main")
    assert not _warnings(loopback_gateway)


def test_a_lan_address_of_a_loopback_public_url_is_still_refused(loopback_gateway):
    """The loopback allowance covers loopback names only: any other origin is cross-site."""
    browser = requests.Session()
    base = loopback_gateway.url
    lan = f"http://192.168.1.20:{loopback_gateway.server.port}"
    form = browser.get(f"{base}/login", timeout=10)
    answer = browser.post(
        f"{base}/login",
        data={"csrf_token": CSRF.search(form.text).group(1), "username": "admin", "password": ADMIN_PASSWORD},
        # As a browser on the LAN sends it: the page was served at that address too.
        headers={"Origin": lan, "Host": lan.removeprefix("http://")},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 403
    assert f"set <code>GATEWAY_PUBLIC_URL</code> to <code>{lan}</code>" in answer.text
    assert "Set-Cookie" not in answer.headers or "gw_session" not in answer.headers["Set-Cookie"]


def test_serve_bind_moves_the_public_url_with_it(tmp_path):
    """``gateway serve --bind 127.0.0.1:<port>``, GATEWAY_BIND and GATEWAY_PUBLIC_URL unset:
    the form posted from the address it listens on signs in."""
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_INSTANCE_DIR": str(tmp_path / "instance"),
        "GATEWAY_DOTENV": "/nonexistent",
        "GATEWAY_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "GATEWAY_WORKERS": "1",
    }
    for name in (
        "GATEWAY_BIND",
        "GATEWAY_PUBLIC_URL",
        "GATEWAY_CONFIG",
        "GATEWAY_DATABASE_URL",
        "GATEWAY_REDIS_URL",
    ):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--bind", f"127.0.0.1:{port}"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{base}/healthz", timeout=0.5).ok, timeout=30)
        browser = requests.Session()
        form = browser.get(f"{base}/login", timeout=10)
        answer = browser.post(
            f"{base}/login",
            data={
                "csrf_token": CSRF.search(form.text).group(1),
                "username": "admin",
                "password": ADMIN_PASSWORD,
            },
            headers={"Origin": base},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 303, answer.text
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert "refused a form" not in stderr
