"""Routes of browser sign-on: a thin Flask adapter over :mod:`gateway.sso.service`.

``/``                         landing page: one button per identity provider
``/sso/login/<provider>``     starts an authorization-code login (PKCE S256): the transaction
                              goes to the browser sealed in an HttpOnly cookie of its own,
                              nothing is stored on the server
``/sso/callback/<provider>``  finishes it (the cookie of its ``state``, spent once through a
                              marker in the shared store), sets ``xAuthToken``, redirects to
                              the Registry
``/sso/continue``             a signed-in browser gets a fresh token cookie and goes to the Registry
``/sso/logout``               the logout URL in the cookie: ends the session, clears the cookies,
                              answers a tiny page the Registry's origin may frame
``/sso/signout``              (POST, CSRF) top-level sign-out, continuing to the IdP's logout
``/sso/signed-out``           where the IdP's logout returns
"""

from __future__ import annotations

import time

from flask import Blueprint, after_this_request, make_response, redirect, request

from gateway.http.appservices import services
from gateway.http.browser import (
    clear_login_cookies,
    csrf_ok,
    csrf_token,
    expire_transaction_cookie,
    page,
    refuse_form,
    set_login_cookies,
    set_transaction_cookie,
    signed_in,
    transaction_cookie_name,
    transaction_cookies,
    xauth_token_from_cookie,
)
from gateway.http.clientinfo import current_client
from gateway.login.outcome import Granted, Refused, Unavailable
from gateway.sso.service import NOT_ALLOWED, SsoError
from gateway.storage.state import StoreUnavailable
from providers.base import PasswordProvider
from providers.catalog import CATALOG

bp = Blueprint("sso", __name__)
MAX_PARAM_CHARS = 4096


@bp.get("/")
def landing():
    """The landing page: a button (label, logo) for every provider browsers sign in with
    (none configured ``browser_login: false``), or, for a signed-in browser, who it is
    signed in as and through which provider (by display name)."""
    sso = services().sso
    session = signed_in()
    buttons = [(p.id, p.sign_in_button) for p in sso.browser_providers()]
    providers = [
        {"id": provider_id, "name": button.name, "label": button.label, "logo_url": button.logo_url}
        for provider_id, button in buttons
        if button is not None
    ]
    through_idp = session is not None and session.provider in sso.providers
    return page(
        "landing.html",
        providers=providers,
        session=session,
        provider_name=sso.display_name(session.provider) if through_idp else None,
        csrf=csrf_token(session) if session else None,
        registry_url=services().config.sso.registry_login_url,
        password_login=any(
            PasswordProvider in CATALOG[p.type].capabilities for p in services().providers.active()
        ),
    )


@bp.get("/sso/login/<provider_id>")
def login(provider_id: str):
    """Send the browser to the IdP carrying its sealed transaction in a cookie of its own,
    expiring its oldest transaction cookies beyond the cap."""
    sso = services().sso
    started = sso.begin(provider_id, request.args.get("next"))
    response = redirect(started.url, 302)
    for name in sso.stale_transactions(transaction_cookies()):
        expire_transaction_cookie(response, name)
    set_transaction_cookie(response, started.state, started.sealed)
    return response


@bp.get("/sso/callback/<provider_id>")
def callback(provider_id: str):
    started = time.perf_counter()
    params = {key: value for key, value in request.args.items() if len(value) <= MAX_PARAM_CHARS}
    sso = services().sso
    cookie = transaction_cookie_name(params.get("state", ""))
    store_down = False

    @after_this_request
    def _spend_cookie(response):
        # Kept only when the single-use mark could not be written (the state store was down):
        # nothing has been spent then, so a reload once the store is back can still finish.
        if not store_down:
            expire_transaction_cookie(response, cookie)
        return response

    outcome = services().login.sso_callback(
        provider_id, params, request.cookies.get(cookie), started, current_client()
    )
    if isinstance(outcome, Unavailable):
        store_down = isinstance(outcome.error, StoreUnavailable)
        raise outcome.error  # the blueprint's error handlers answer with a page
    if isinstance(outcome, Refused):
        raise outcome.cause or SsoError(outcome.status, outcome.reason, NOT_ALLOWED)
    assert isinstance(outcome, Granted)
    assert outcome.session is not None and outcome.token is not None and outcome.next_url is not None
    previous = signed_in()
    if previous is not None and previous.id != outcome.session.id:
        sso.end({previous.id})  # one browser, one session
    return _to_registry(outcome.next_url, outcome.token, outcome.session)


@bp.get("/sso/continue")
def continue_to_registry():
    """From the landing page: a signed-in browser whose token cookie has run out gets a fresh
    token for the same session, then goes to the Registry's login page."""
    sso = services().sso
    session = signed_in()
    if session is None or not sso.settings.enabled:  # a Registry login URL is configured
        return redirect("/", 303)
    return _to_registry(sso.settings.registry_login_url, sso.mint_for(session), session)


def _to_registry(next_url: str, token: str, session):
    response = redirect(next_url, 302)
    set_login_cookies(response, token, session, services().sso.token_lifetime)
    return response


def _browser_session_ids() -> set[str]:
    """This browser's sessions: by its session cookie and by the token in its ``xAuthToken``
    cookie."""
    sso = services().sso
    ids = set()
    session = signed_in()
    if session is not None:
        ids.add(session.id)
    token_session = sso.session_of_token(xauth_token_from_cookie())
    if token_session is not None:
        ids.add(token_session)
    return ids


@bp.get("/sso/logout")
def logout():
    """The logout URL the Registry's web client loads in a hidden iframe (contract §3)."""
    services().sso.end(_browser_session_ids())
    body, status = page("logout.html")
    response = make_response(body, status)
    origin = services().config.sso.registry_origin or "'none'"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'self'; frame-ancestors {origin}"
    )
    clear_login_cookies(response)
    return response


@bp.post("/sso/signout")
def signout():
    """Top-level sign-out from the landing or account page; continues to the IdP's logout."""
    session = signed_in()
    if session is not None and not csrf_ok(session):
        return refuse_form()
    target = services().sso.sign_out(_browser_session_ids()) or "/sso/signed-out"
    response = redirect(target, 303)
    # No body (werkzeug's page would repeat the URL): the id_token_hint goes in Location only.
    response.set_data(b"")
    clear_login_cookies(response)
    return response


@bp.get("/sso/signed-out")
def signed_out():
    post_logout = services().config.sso.post_logout_url
    if post_logout:
        return redirect(post_logout, 303)
    return page("signed_out.html")
