"""Browser sign-in with a username and password (``/login``), over HTTP against the gateway
under gunicorn, driven with requests so every status, header and cookie attribute is visible:
the form's CSRF token (double submit, bound to the binding cookie), one generic message for
unknown users and wrong passwords, the per-account throttle, ``next`` that can never leave
the gateway (except for the configured Registry login URL), the cookies' flags, the
``xAuthToken`` hand-over only when a Registry login URL is configured, a 503 page when the
provider that must answer cannot be reached, and a local user changing their own password.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
import requests

from tests.integration.sso.test_sso import set_cookies
from tests.support.adminapi import (
    ADMIN_CONFIG,
    ADMIN_PASSWORD,
    ADMIN_SEED_USERS,
    PASSWORD,
    start_admin_gateway,
)
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

CONFIG = (
    ADMIN_CONFIG
    + """
throttle: {free_failures: 3, base_delay_seconds: 60}
"""
)
USERS = ADMIN_SEED_USERS + [{"username": "dora"}, {"username": "erik"}, {"username": "fay"}]
WRONG = "The username or password is not correct."
EXPIRED = "This form has expired"
NEW_PASSWORD = "green-harbour-19-lantern"
TRIED_PASSWORDS = ["wrong-password-for-sure-1", "wrong-password-for-sure-2", NEW_PASSWORD]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def started(tmp_path_factory, name: str, config: str = CONFIG):
    """A gateway whose public URL is where it listens (the CSRF check compares origins)."""
    port = free_port()
    return start_admin_gateway(
        tmp_path_factory.mktemp(name),
        config,
        users=USERS,
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gateway = started(tmp_path_factory, "browser-login")
    yield gateway
    gateway.stop()


def browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def open_form(gateway, session: requests.Session, query: str = "") -> tuple[requests.Response, str]:
    """GET the sign-in form; the response and its CSRF token."""
    response = session.get(f"{gateway.url}/login{query}", timeout=10)
    assert response.status_code == 200, response.text
    return response, CSRF.search(response.text).group(1)


def sign_in(
    gateway,
    username: str,
    password: str,
    *,
    session: requests.Session | None = None,
    next_url: str | None = None,
    **overrides,
) -> requests.Response:
    """Fill in and post the sign-in form the way a browser does (redirects not followed)."""
    session = session or browser()
    _, token = open_form(gateway, session)
    form = {"csrf_token": token, "username": username, "password": password}
    if next_url is not None:
        form["next"] = next_url
    form.update(overrides)
    return session.post(
        f"{gateway.url}/login", data=form, allow_redirects=False, timeout=30, headers={"Origin": gateway.url}
    )


def message(response: requests.Response) -> str:
    found = re.search(r'id="(?:login-error|error-message)"[^>]*>([^<]+)<', response.text)
    return found.group(1).strip() if found else ""


# -- the form ---------------------------------------------------------------------------------


def test_the_landing_page_links_to_the_sign_in_form(gateway):
    response = requests.get(f"{gateway.url}/", timeout=10)
    assert 'id="password-login" href="/login"' in response.text


def test_the_form_is_a_labelled_page_with_a_token_bound_to_an_httponly_cookie(gateway):
    response, token = open_form(gateway, browser())
    assert response.headers["Content-Type"].startswith("text/html")
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert '<label for="username">' in response.text and '<label for="password">' in response.text
    assert 'autocomplete="current-password"' in response.text
    binding = set_cookies(response)["gw_binding"]
    assert "httponly" in binding["flags"] and binding["samesite"] == "Lax"
    assert token and token not in binding["value"]


# -- success ----------------------------------------------------------------------------------


def test_a_good_password_signs_in_with_an_httponly_session_cookie_and_no_xauthtoken(gateway):
    session = browser()
    response = sign_in(gateway, "alice", PASSWORD, session=session)
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    cookies = set_cookies(response)
    assert "xAuthToken" not in cookies  # no Registry login URL is configured
    cookie = cookies["gw_session"]
    assert "httponly" in cookie["flags"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert "domain" not in cookie  # host-only
    assert PASSWORD not in response.text
    account = session.get(f"{gateway.url}/account", timeout=10)
    assert account.status_code == 200 and 'id="account-user">alice<' in account.text
    assert 'id="admin-link"' not in account.text


def test_an_admin_lands_on_the_admin_pages(gateway):
    session = browser()
    response = sign_in(gateway, "admin", ADMIN_PASSWORD, session=session)
    assert response.status_code == 303 and response.headers["Location"] == "/admin"
    assert session.get(f"{gateway.url}/admin", timeout=10).status_code == 200
    assert 'id="admin-link" href="/admin"' in session.get(f"{gateway.url}/account", timeout=10).text


def test_a_signed_in_browser_skips_the_form(gateway):
    session = browser()
    sign_in(gateway, "alice", PASSWORD, session=session)
    response = session.get(f"{gateway.url}/login?next=/account%3Ftab%3D1", allow_redirects=False, timeout=10)
    assert response.status_code == 303 and response.headers["Location"] == "/account?tab=1"


def test_signing_in_again_ends_the_previous_session(gateway):
    """A second sign-in from a form left open in another tab: one browser, one session."""
    session = browser()
    _, open_tab = open_form(gateway, session)
    sign_in(gateway, "alice", PASSWORD, session=session)
    first = session.cookies["gw_session"]
    response = session.post(
        f"{gateway.url}/login",
        allow_redirects=False,
        timeout=30,
        data={"csrf_token": open_tab, "username": "carol", "password": PASSWORD},
    )
    assert response.status_code == 303
    assert session.cookies["gw_session"] != first
    stale = requests.get(
        f"{gateway.url}/account", cookies={"gw_session": first}, allow_redirects=False, timeout=10
    )
    assert stale.status_code == 303  # the old session no longer signs anyone in


# -- CSRF -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attack", ["no-token", "wrong-token", "token-of-another-browser", "no-binding-cookie", "cross-origin"]
)
def test_a_form_without_this_browsers_token_is_a_403_page(gateway, attack):
    session = browser()
    _, token = open_form(gateway, session)
    _, other_token = open_form(gateway, browser())
    form = {"csrf_token": token, "username": "alice", "password": PASSWORD}
    headers = {"Origin": gateway.url}
    if attack == "no-token":
        del form["csrf_token"]
    elif attack == "wrong-token":
        form["csrf_token"] = "0" * 64
    elif attack == "token-of-another-browser":
        form["csrf_token"] = other_token
    elif attack == "no-binding-cookie":
        session.cookies.clear()
    else:
        headers["Origin"] = "https://evil.example"
    response = session.post(
        f"{gateway.url}/login", data=form, headers=headers, allow_redirects=False, timeout=10
    )
    assert response.status_code == 403
    assert response.headers["Content-Type"].startswith("text/html")
    assert EXPIRED in message(response)
    assert "gw_session" not in set_cookies(response)


# -- refusals ---------------------------------------------------------------------------------


def test_unknown_users_and_wrong_passwords_get_the_same_generic_answer(gateway):
    unknown = sign_in(gateway, "nobody-here-at-all", TRIED_PASSWORDS[0])
    wrong = sign_in(gateway, "carol", TRIED_PASSWORDS[1])
    assert unknown.status_code == wrong.status_code == 401
    assert message(unknown) == message(wrong) == WRONG
    for response, password in ((unknown, TRIED_PASSWORDS[0]), (wrong, TRIED_PASSWORDS[1])):
        assert password not in response.text  # never echoed
        assert "gw_session" not in set_cookies(response)
    assert 'value="carol"' in wrong.text  # the username is kept for the next try
    assert 'aria-describedby="login-error"' in wrong.text


def test_a_non_canonical_spelling_is_refused_like_a_wrong_password(gateway):
    response = sign_in(gateway, "Alice", PASSWORD)
    assert response.status_code == 401 and message(response) == WRONG


def test_an_empty_field_asks_for_both(gateway):
    response = sign_in(gateway, "alice", "")
    assert response.status_code == 400 and "Enter your username" in message(response)


def test_app_passwords_are_refused_in_the_browser(gateway):
    response = sign_in(gateway, "alice", "gwap_" + "a" * 12 + "_" + "A" * 43)
    assert response.status_code == 401 and "command line" in message(response)


def test_repeated_failures_are_throttled_with_a_429_page(gateway):
    statuses = [sign_in(gateway, "dora", TRIED_PASSWORDS[0]).status_code for _ in range(4)]
    assert statuses[:3] == [401, 401, 401]
    throttled = sign_in(gateway, "dora", PASSWORD)  # even the right password waits
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert "Too many failed sign-in attempts" in message(throttled)
    assert "gw_session" not in set_cookies(throttled)


# -- next ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "next_url",
    [
        "//evil.example",
        "/\\evil.example",
        "https://evil.example",
        "http://evil.example/account",
        "/\t/evil.example",
        "javascript:alert(1)",
        " /account",
        "\\\\evil.example",
        "/" + "a" * 3000,
    ],
)
def test_open_redirect_attempts_land_on_a_safe_page(gateway, next_url):
    response = sign_in(gateway, "alice", PASSWORD, next_url=next_url)
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"


@pytest.mark.parametrize("next_url", ["//evil.example", "/\\evil.example", "https://evil.example"])
def test_the_form_does_not_carry_an_unsafe_next(gateway, next_url):
    response, _ = open_form(gateway, browser(), f"?next={next_url}")
    assert 'name="next"' not in response.text and "evil.example" not in response.text


def test_a_same_origin_next_is_honoured(gateway):
    response = sign_in(gateway, "admin", ADMIN_PASSWORD, next_url="/admin/users?q=al")
    assert response.status_code == 303 and response.headers["Location"] == "/admin/users?q=al"
    form, _ = open_form(gateway, browser(), "?next=/admin/users%3Fq%3Dal")
    assert 'name="next" value="/admin/users?q=al"' in form.text


# -- the account page: changing one's own password ----------------------------------------------


def _account_form(gateway, session) -> str:
    page = session.get(f"{gateway.url}/account", timeout=10)
    assert 'id="password-form"' in page.text
    return CSRF.search(page.text).group(1)


def test_a_local_user_changes_their_password_on_the_account_page(gateway):
    session = browser()
    sign_in(gateway, "erik", PASSWORD, session=session)
    token = _account_form(gateway, session)
    post = lambda **form: session.post(  # noqa: E731
        f"{gateway.url}/account/password",
        data={"csrf_token": token, **form},
        headers={"Origin": gateway.url},
        allow_redirects=False,
        timeout=30,
    )
    wrong = post(currentPassword=TRIED_PASSWORDS[0], newPassword=NEW_PASSWORD, confirmPassword=NEW_PASSWORD)
    assert wrong.status_code == 400
    assert 'id="currentPassword-error"' in wrong.text and "not correct" in wrong.text
    assert 'aria-describedby="currentPassword-error"' in wrong.text
    mismatch = post(currentPassword=PASSWORD, newPassword=NEW_PASSWORD, confirmPassword="other")
    assert mismatch.status_code == 400 and 'id="confirmPassword-error"' in mismatch.text
    weak = post(currentPassword=PASSWORD, newPassword="short", confirmPassword="short")
    assert weak.status_code == 400 and 'id="newPassword-error"' in weak.text
    done = post(currentPassword=PASSWORD, newPassword=NEW_PASSWORD, confirmPassword=NEW_PASSWORD)
    assert done.status_code == 303
    assert (
        "Your password was changed"
        in session.get(f"{gateway.url}{done.headers['Location']}", timeout=10).text
    )
    assert sign_in(gateway, "erik", PASSWORD).status_code == 401
    assert sign_in(gateway, "erik", NEW_PASSWORD).status_code == 303


def test_changing_the_password_needs_the_form_token(gateway):
    session = browser()
    sign_in(gateway, "fay", PASSWORD, session=session)
    response = session.post(
        f"{gateway.url}/account/password",
        data={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "confirmPassword": NEW_PASSWORD},
        timeout=10,
    )
    assert response.status_code == 403
    assert sign_in(gateway, "fay", PASSWORD).status_code == 303  # unchanged


# -- with a Registry login URL, and a directory that is down ------------------------------------

DOWN_DIRECTORY = """
providers:
  - id: local
    type: local
  - id: directory
    type: ldap
    preset: openldap
    servers: ["ldap://127.0.0.1:1"]
    bind: {dn: "cn=gateway,dc=example,dc=org", password: "unused-secret"}
    user: {base: "ou=people,dc=example,dc=org"}
    groups: {base: "ou=groups,dc=example,dc=org", strategies: [member_of]}
    connect_timeout_seconds: 1
    operation_timeout_seconds: 1
    login_timeout_seconds: 2
"""


@pytest.fixture(scope="module")
def handover(tmp_path_factory):
    """A gateway with a Registry login URL on its own host (host-only ``xAuthToken``) and an
    LDAP provider nobody answers for."""
    port = free_port()
    registry_login = f"http://127.0.0.1:{port + 1}/login"
    config = CONFIG + DOWN_DIRECTORY + f'sso: {{registry_login_url: "{registry_login}"}}\n'
    gateway = start_admin_gateway(
        tmp_path_factory.mktemp("handover"),
        config,
        users=USERS,
        port=port,
        extra={"GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}"},
    )
    gateway.registry_login = registry_login
    yield gateway
    gateway.stop()


def test_with_a_registry_login_url_the_token_is_handed_over(handover):
    response = sign_in(handover, "alice", PASSWORD, next_url=handover.registry_login)
    assert response.status_code == 303 and response.headers["Location"] == handover.registry_login
    cookies = set_cookies(response)
    xauth = cookies["xAuthToken"]
    assert "httponly" not in xauth["flags"] and xauth["samesite"] == "Lax"
    token, _, logout_url = unquote(xauth["value"]).partition("|")
    assert logout_url == f"{handover.url}/sso/logout"
    answer = requests.post(f"{handover.url}/api/authenticate", data={"token": token}, timeout=10)
    assert answer.status_code == 200 and answer.json()["username"] == "alice"
    assert "httponly" in cookies["gw_session"]["flags"]


def test_a_provider_outage_is_a_503_page(handover):
    # An unknown name must be asked of every provider; the directory cannot answer.
    response = sign_in(handover, "someone-new", TRIED_PASSWORDS[0])
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert "cannot be reached" in message(response)
    assert "gw_session" not in set_cookies(response)


# -- last: what the gateway wrote ----------------------------------------------------------------


def test_no_password_ever_reaches_the_logs(gateway, handover):
    logs = gateway.server.log_text() + handover.server.log_text()
    assert "auth attempt" in logs and "browser_password" in logs
    for password in (PASSWORD, ADMIN_PASSWORD, *TRIED_PASSWORDS):
        assert password not in logs
