"""The browser's side of SSO: cookies, the signed-in session, CSRF tokens and pages.

Cookies the gateway sets:

* ``xAuthToken`` (contract §3): ``<token>|<logout URL>``, percent-encoded so the Registry web
  client's cookie parser (which keeps only the text between the first and second ``=``) reads it
  whole; readable by JavaScript (never HttpOnly), ``Domain`` = the configured shared parent
  domain, ``Path=/``, ``SameSite=Lax``, ``Secure`` when the gateway is served over HTTPS.
* the gateway's own session cookie: the SSO session id with a MAC under a server key, HttpOnly,
  host-only, ``SameSite=Lax`` (``__Host-`` prefixed and Secure over HTTPS). It signs the person
  in to the self-service page and tells the logout page which session to end. The MAC matters:
  the session id is also in the token's ``sid`` claim, which any script on the shared domain can
  read; without the MAC a stolen ``xAuthToken`` would open the self-service page and let its
  thief mint long-lived app passwords.
* one cookie per SSO login under way, ``gw_sso_<tag>`` (``__Host-`` prefixed and Secure over
  HTTPS), the tag being 16 hex characters of a digest of the login's ``state``: the login
  transaction (state, nonce, PKCE verifier, where to go next, expiry) sealed with authenticated
  encryption (:mod:`gateway.sso.transactions`). HttpOnly, host-only, ``Path=/``, ``SameSite=Lax`` (so
  the IdP's top-level redirect back brings it), ``Max-Age`` the transaction's 10 minutes. It is
  the browser binding: a callback only completes in the browser that holds the cookie of its
  ``state``, and logins started in several tabs each have their own. The callback expires it
  (except when the state store was down, so nothing was spent); starting a login while five
  (MAX_TRANSACTION_COOKIES) are present expires the oldest.
* a binding cookie holding a random value, set by the password sign-in form: the form's CSRF
  token is a MAC of it (double submit, for a browser that has no session yet).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import secrets
import time
from datetime import timedelta
from urllib.parse import quote, unquote

from flask import make_response, redirect, render_template, request

from gateway.config.sections import origin_of
from gateway.http.appservices import services
from gateway.http.origins import opened_by_another_name, origin_accepted, readable_origin
from gateway.sso.service import TRANSACTION_SECONDS, transaction_tag
from gateway.sso.sessions import SessionRecord
from gateway.storage.db import UNAVAILABLE_ERRORS
from gateway.storage.state import StoreUnavailable
from providers.sql import utcnow

log = logging.getLogger(__name__)
# What makes a page answer 503: the shared store or the database could not be reached.
OUTAGES = (StoreUnavailable, *UNAVAILABLE_ERRORS)
XAUTH_COOKIE = "xAuthToken"
FORM_EXPIRED = "This form has expired. Please reload the page and try again."
BINDING = re.compile(r"[A-Za-z0-9_-]{32,64}")
TRANSACTION_COOKIE = "gw_sso_"
_TRANSACTION_TAG = re.compile(r"[0-9a-f]{16}")


def secure() -> bool:
    """Whether the gateway is served over HTTPS (its public URL says so)."""
    return services().settings.public_url.startswith("https://")


def _host_only(name: str) -> str:
    """``name`` with the ``__Host-`` prefix over HTTPS: browsers then keep the cookie to this
    host (no Domain, Path=/, Secure), so a sibling host cannot plant one."""
    return "__Host-" + name if secure() else name


def session_cookie_name() -> str:
    return _host_only("gw_session")


def binding_cookie_name() -> str:
    return _host_only("gw_binding")


def transaction_cookie_prefix() -> str:
    return _host_only(TRANSACTION_COOKIE)


def transaction_cookie_name(state: str) -> str:
    """The cookie that carries the sealed login transaction of ``state``."""
    return transaction_cookie_prefix() + transaction_tag(state)


def transaction_cookies() -> dict[str, str]:
    """This browser's login transaction cookies: name -> sealed value."""
    prefix = transaction_cookie_prefix()
    return {
        name: value
        for name, value in request.cookies.items()
        if name.startswith(prefix) and _TRANSACTION_TAG.fullmatch(name[len(prefix) :])
    }


def set_transaction_cookie(response, state: str, sealed: str) -> None:
    """Hand the browser its sealed login transaction, for as long as the transaction lasts."""
    response.set_cookie(
        transaction_cookie_name(state),
        sealed,
        max_age=TRANSACTION_SECONDS,
        path="/",
        secure=secure(),
        httponly=True,
        samesite="Lax",
    )


def expire_transaction_cookie(response, name: str) -> None:
    """Expire a login transaction cookie, with the attributes it was set with."""
    response.delete_cookie(name, path="/", secure=secure(), httponly=True, samesite="Lax")


def xauth_value(token: str, logout_url: str) -> str:
    """The cookie value the Registry's web client splits at its first ``|`` (contract §3)."""
    return quote(f"{token}|{logout_url}", safe="")


def set_login_cookies(response, token: str, session: SessionRecord, token_lifetime: timedelta) -> None:
    """Set ``xAuthToken`` and the session cookie, each expiring with what it holds: the token
    (its lifetime, never past the session) and the session (what remains of it)."""
    set_xauth_cookie(response, token, session, token_lifetime)
    set_session_cookie(response, session)


def set_xauth_cookie(response, token: str, session: SessionRecord, token_lifetime: timedelta) -> None:
    """Set ``xAuthToken`` for the Registry's web client, expiring with the token (its lifetime,
    never past the session)."""
    svc = services()
    session_left = session.expires_at - utcnow()
    token_seconds = max(1, int(min(token_lifetime, session_left).total_seconds()))
    response.set_cookie(
        XAUTH_COOKIE,
        xauth_value(token, svc.sso.logout_url),
        max_age=token_seconds,
        path="/",
        domain=svc.config.sso.cookie_domain,
        secure=secure(),
        httponly=False,
        samesite="Lax",
    )


def set_session_cookie(response, session: SessionRecord) -> None:
    """Set the gateway's own (HttpOnly, MAC-signed) session cookie for what remains of
    ``session``."""
    session_seconds = max(1, int((session.expires_at - utcnow()).total_seconds()))
    response.set_cookie(
        session_cookie_name(),
        f"{session.id}.{_mac(b'session', session.id)}",
        max_age=session_seconds,
        path="/",
        secure=secure(),
        httponly=True,
        samesite="Lax",
    )


def clear_login_cookies(response) -> None:
    """Expire both cookies with the same Domain and Path they were set with."""
    response.delete_cookie(
        XAUTH_COOKIE,
        path="/",
        domain=services().config.sso.cookie_domain,
        secure=secure(),
        httponly=False,
        samesite="Lax",
    )
    response.delete_cookie(session_cookie_name(), path="/", secure=secure(), httponly=True, samesite="Lax")


def binding_value() -> str:
    """The browser's binding value: the one it has, so sign-in forms open in two tabs both
    post, or a new one. Set it again with every form, to renew its lifetime."""
    current = request.cookies.get(binding_cookie_name(), "")
    return current if BINDING.fullmatch(current) else secrets.token_urlsafe(32)


def set_binding_cookie(response, value: str, max_age: int) -> None:
    response.set_cookie(
        binding_cookie_name(),
        value,
        max_age=max_age,
        path="/",
        secure=secure(),
        httponly=True,
        samesite="Lax",
    )


def signed_in() -> SessionRecord | None:
    """The active SSO session of this browser, if any (its cookie's MAC must verify)."""
    value = request.cookies.get(session_cookie_name(), "")
    session_id, _, mac = value.partition(".")
    if (
        not session_id
        or len(value) > 256
        or not value.isascii()
        or not hmac.compare_digest(mac.encode(), _mac(b"session", session_id).encode())
    ):
        return None
    return services().sso.active_session(session_id)


def xauth_token_from_cookie() -> str | None:
    """Our token from the browser's ``xAuthToken`` cookie, if it holds one."""
    value = request.cookies.get(XAUTH_COOKIE)
    if not value or len(value) > 16384:
        return None
    return unquote(value).split("|", 1)[0] or None


def _mac(purpose: bytes, value: str) -> str:
    """HMAC-SHA256 of ``value`` under a key derived, per purpose, from the key-encryption key."""
    secret = services().settings.key_encryption_key.encode()
    key = hmac.new(secret, b"gateway web v1 " + purpose, hashlib.sha256).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def csrf_token(session: SessionRecord) -> str:
    """A form token tied to the signed-in session: a form posted from anywhere else fails."""
    return _mac(b"csrf", session.id)


def csrf_ok(session: SessionRecord) -> bool:
    """Whether the posted form carries this session's token and, if the browser says where it
    posted from, came from the gateway's own origin."""
    if not same_origin_post():
        return False
    sent = request.form.get("csrf_token", "")
    return hmac.compare_digest(sent.encode(), csrf_token(session).encode())


def same_origin_post() -> bool:
    """False when the browser says the request comes from another origin than the gateway's."""
    return origin_accepted(request.headers.get("Origin"), services().settings.public_url)


def refuse_form():
    """The 403 page for a posted form that failed its checks. Posted from a page this gateway
    served under another address than its public URL (the browser opened it by another name),
    the page names both addresses and the setting to change; posted from another site, or with
    the right origin but a bad token, the form has expired. A WARNING line names both origins
    whenever the origin was not the gateway's."""
    origin = request.headers.get("Origin")
    public_url = services().settings.public_url
    if origin_accepted(origin, public_url):
        return error_page(403, FORM_EXPIRED)
    used = readable_origin(origin)
    by_another_name = used is not None and opened_by_another_name(
        used, request.headers.get("Host"), request.headers.get("Sec-Fetch-Site")
    )
    log.warning(
        "refused a form posted from %s: not the gateway's public URL %s (GATEWAY_PUBLIC_URL)%s",
        used or "an unnamed origin",
        _public_origin(),
        "" if by_another_name else "; posted by another site",
        extra={"posted_origin": used, "public_origin": _public_origin(), "path": request.path},
    )
    if not by_another_name:
        return error_page(403, FORM_EXPIRED)
    body, _ = page("wrong_address.html", 403, used=used, public_url=public_url)
    return body, 403


def signed_in_form(view):
    """Decorates the view of a form a signed-in person posts: without a session it redirects
    to the start page, without the session's CSRF token it refuses the form; otherwise it
    returns ``view(session, **url_values)``."""

    @functools.wraps(view)
    def checked(**url_values):
        session = signed_in()
        if session is None:
            return redirect("/", 303)
        if not csrf_ok(session):
            return refuse_form()
        return view(session, **url_values)

    return checked


def login_form_token(binding: str) -> str:
    """The sign-in form's token for a browser not signed in yet: bound to its binding cookie
    (double submit), so a form posted from another site, which cannot read or set that
    cookie, fails."""
    return _mac(b"login form", binding)


def login_form_ok() -> bool:
    """Whether the posted sign-in form carries the token of this browser's binding cookie
    and, if the browser says where it posted from, came from the gateway's own origin."""
    binding = request.cookies.get(binding_cookie_name(), "")
    if not same_origin_post() or not BINDING.fullmatch(binding):
        return False
    sent = request.form.get("csrf_token", "")
    return hmac.compare_digest(sent.encode(), login_form_token(binding).encode())


CHANGE_TICKET_SECONDS = 600


def change_ticket_cookie_name() -> str:
    return _host_only("gw_pwchange")


def set_change_ticket(response, username: str) -> None:
    """Let this browser choose a new password for ``username`` for a few minutes: it just
    proved the temporary one at the sign-in form (an HttpOnly cookie with a MAC and an expiry)."""
    expires = int(time.time()) + CHANGE_TICKET_SECONDS
    value = f"{expires}.{_mac(b'password change', f'{expires}|{username}')}.{username}"
    response.set_cookie(
        change_ticket_cookie_name(),
        quote(value, safe=""),
        max_age=CHANGE_TICKET_SECONDS,
        path="/",
        secure=secure(),
        httponly=True,
        samesite="Lax",
    )


def change_ticket_user() -> str | None:
    """The username of this browser's live password-change ticket, if its MAC verifies."""
    value = unquote(request.cookies.get(change_ticket_cookie_name(), ""))
    if len(value) > 512:
        return None
    expires, _, rest = value.partition(".")
    mac, _, username = rest.partition(".")
    if not expires.isdigit() or int(expires) < time.time() or not username:
        return None
    expected = _mac(b"password change", f"{expires}|{username}")
    return username if hmac.compare_digest(mac.encode(), expected.encode()) else None


def clear_change_ticket(response) -> None:
    response.delete_cookie(
        change_ticket_cookie_name(), path="/", secure=secure(), httponly=True, samesite="Lax"
    )


def _public_origin() -> str:
    return origin_of(services().settings.public_url)


def page(template: str, code: int = 200, **context):
    """Render an HTML page with the brand in its context; (body, HTTP status)."""
    brand = services().config.sso.brand
    return render_template(template, brand=brand, **context), code


FORM_SECONDS = 3600  # how long a form shown before sign-in stays usable


def login_form_page(template: str, status: int, *, retry_after: int | None = None, **context):
    """A page holding a form posted before sign-in (sign-in, reset, registration): its CSRF
    token is bound to the browser's binding cookie, renewed for FORM_SECONDS. A response."""
    binding = binding_value()
    body, _ = page(template, status, csrf=login_form_token(binding), **context)
    response = make_response(body, status)
    set_binding_cookie(response, binding, FORM_SECONDS)
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


def error_page(status: int, message: str, retry_after: int | None = None):
    body, _ = page("error.html", status, status=status, message=message)
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return body, status, headers
