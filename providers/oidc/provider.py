"""An OpenID Connect IdP as a callback provider (browser login) and a token provider (bearer).

The browser login is the authorization code flow with PKCE S256, a fresh ``state`` and
``nonce`` per login, RFC 9207's ``iss`` check, and an ID token verified against the IdP's
published keys. The token path accepts, each only when configured, this IdP's ID tokens,
its JWT access tokens for a named audience (RFC 9068 ``at+jwt``, or the plain ``JWT`` ones
Keycloak, Entra ID and Okta issue), or opaque tokens it introspects.

An IdP that cannot be reached, hangs or answers 5xx raises ProviderUnavailable (the gateway
answers 503); everything the IdP or the browser got wrong raises OidcRejected. Tokens,
codes and secrets are never logged. The steps live beside this module: the calls to the IdP
(:mod:`.client`), the rules of JWTs (:mod:`.jwtrules`), introspection (:mod:`.introspection`),
discovery and keys (:mod:`.metadata`), and claims to identity (:mod:`.claims`).
"""

from __future__ import annotations

import hmac
import http.cookiejar
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from providers.base import (
    MAX_TOKEN_LENGTH,
    FinishedLogin,
    HealthReport,
    Identity,
    LogoutNotice,
    LogoutPolicy,
    ProviderUnavailable,
    SignInButton,
)
from providers.jws import jwt_header
from providers.oidc import jwtrules, logouttoken
from providers.oidc.claims import OidcRejected, has_claim, identity_from_claims
from providers.oidc.client import IdpClient, merged, shown_error_code
from providers.oidc.introspection import Introspection
from providers.oidc.metadata import Http, Metadata
from providers.oidc.settings import OidcSettings

__all__ = ["MAX_TOKEN_LENGTH", "FinishedLogin", "OidcProvider", "OidcRejected"]

log = logging.getLogger(__name__)


class OidcProvider:
    """Browser logins and bearer tokens of one OpenID Connect IdP."""

    def __init__(
        self,
        provider_id: str,
        settings: OidcSettings,
        canonical: Callable[[str], str | None],
        *,
        session: requests.Session | None = None,
    ):
        self.id = provider_id
        self.settings = settings
        self._canonical = canonical
        self._own_session = session is None
        if session is None:
            session = requests.Session()
            # Explicit settings only: no proxy or CA bundle picked up from the environment,
            # and no cookie an IdP sets for one user's call sent along with another's.
            session.trust_env = False
            session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
            if settings.ca_file:
                session.verify = settings.ca_file
        self._session = session
        outbound = Http(provider_id, settings.timeout_seconds, session)
        self._metadata = Metadata(provider_id, settings, outbound)
        self._client = IdpClient(provider_id, settings, outbound, self._metadata)
        self._introspection = Introspection(provider_id, settings, self._metadata, self._client)
        tokens = settings.tokens
        # The audiences an access token may be for (none: no access tokens), and every audience
        # some accepted JWT may be for (client_id too, if ID tokens are accepted).
        self._access_audiences = frozenset(tokens.access_token_audiences)
        self._jwt_audiences = tuple(
            dict.fromkeys(
                ((settings.client_id,) if tokens.accept_id_tokens else ()) + tokens.access_token_audiences
            )
        )

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    @property
    def display_name(self) -> str:
        """What pages call this provider: its ``display_name``, else its id."""
        return self.settings.name_for(self.id)

    @property
    def sign_in_button(self) -> SignInButton | None:
        """Its landing page button; None when configured ``browser_login: false``."""
        if not self.settings.browser_login:
            return None
        return SignInButton(self.display_name, self.settings.label_for(self.id), self.settings.logo_url)

    # -- the browser login --------------------------------------------------------------------

    def start(self, redirect_uri: str) -> tuple[str, dict[str, Any]]:
        """Authorization URL (code flow, PKCE S256, fresh random state, nonce and code_verifier)
        and the JSON-serialisable transaction to keep: state, nonce, code_verifier, redirect_uri.
        ProviderUnavailable when discovery cannot be fetched in time."""
        endpoint = self._metadata.document()["authorization_endpoint"]  # checked at discovery
        transaction = {
            "state": generate_token(43),
            "nonce": generate_token(43),
            "code_verifier": generate_token(64),
            "redirect_uri": redirect_uri,
        }
        params = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.settings.scopes),
            "state": transaction["state"],
            "nonce": transaction["nonce"],
            "code_challenge": create_s256_code_challenge(transaction["code_verifier"]),
            "code_challenge_method": "S256",
        }
        return _with_query(endpoint, params), transaction

    def finish(
        self, redirect_uri: str, params: Mapping[str, str], transaction: Mapping[str, Any]
    ) -> FinishedLogin:
        """The identity a callback proves, checked against the transaction :meth:`start` gave,
        with the ID token it was verified from.

        In order: an ``error`` parameter (``idp_error``); ``state`` (``bad_state``); the redirect
        URI (``bad_redirect_uri``); RFC 9207 ``iss`` (``bad_iss``: wrong, or missing where the IdP
        promises it); the code exchange with the verifier (``code_rejected``); the ID token
        (signature, alg, iss, aud, azp, exp/iat, ``nonce_mismatch``); userinfo as configured
        (``userinfo_sub_mismatch``); then the claims (see :func:`identity_from_claims`).
        ProviderUnavailable when the IdP cannot be reached, hangs or answers 5xx.
        """
        error = params.get("error")
        if error is not None:
            shown = shown_error_code(error) or "(malformed)"
            log.info("oidc %s: the IdP answered the login with error %s", self.id, shown)
            raise OidcRejected("idp_error")
        if not _same_secret(params.get("state"), transaction.get("state")):
            raise OidcRejected("bad_state")
        if redirect_uri != transaction.get("redirect_uri"):
            raise OidcRejected("bad_redirect_uri")
        document = self._metadata.document()
        if "iss" in params:
            if params["iss"] != self.issuer:
                raise OidcRejected("bad_iss")
        elif document.get("authorization_response_iss_parameter_supported") is True:
            raise OidcRejected("bad_iss")
        code, verifier = params.get("code"), transaction.get("code_verifier")
        if not isinstance(code, str) or not code:
            raise OidcRejected("missing_code")
        if not isinstance(verifier, str) or not verifier:
            raise OidcRejected("bad_state")
        tokens = self._client.exchange(code, redirect_uri, verifier)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcRejected("missing_id_token")
        claims = self._verify(id_token, (self.settings.client_id,))
        jwtrules.check_id_token(claims, self.settings)
        if not _same_secret(claims.get("nonce"), transaction.get("nonce")):
            raise OidcRejected("nonce_mismatch")
        if self._wants_userinfo(claims):
            claims = merged(
                claims,
                self._client.userinfo(
                    tokens.get("access_token"), claims.get("sub"), required=self.settings.userinfo == "always"
                ),
            )
        sid = claims.get("sid")
        idp_session = sid if isinstance(sid, str) and 0 < len(sid) <= logouttoken.MAX_ID_CHARS else None
        return FinishedLogin(self._identity(claims), id_token, idp_session)

    def end_session_url(
        self, post_logout_redirect_uri: str | None, id_token_hint: str | None = None
    ) -> str | None:
        """The IdP's end_session_endpoint with client_id (and post_logout_redirect_uri, and
        id_token_hint: the ID token of the login being ended), if end_session is configured and
        the IdP advertises one; None otherwise. Never raises."""
        if not self.settings.end_session:
            return None
        try:
            endpoint = self._metadata.endpoint("end_session_endpoint")
        except ProviderUnavailable:
            return None
        if endpoint is None:
            return None
        params = {"id_token_hint": id_token_hint} if id_token_hint else {}
        params["client_id"] = self.settings.client_id
        if post_logout_redirect_uri:
            params["post_logout_redirect_uri"] = post_logout_redirect_uri
        return _with_query(endpoint, params)

    # -- back-channel logout -------------------------------------------------------------------

    @property
    def logout_policy(self) -> LogoutPolicy | None:
        """What a back-channel logout of this IdP ends besides the sessions it names; None
        unless ``backchannel_logout.enabled``."""
        backchannel = self.settings.backchannel_logout
        if not backchannel.enabled:
            return None
        return LogoutPolicy(
            deactivate=backchannel.on_logout == "deactivate",
            revoke_app_passwords=backchannel.revoke_app_passwords,
        )

    def verify_logout_token(self, token: str) -> LogoutNotice:
        """The notice of an OpenID Connect Back-Channel Logout 1.0 logout token: signed by
        this IdP with a configured (asymmetric) algorithm and a key of its JWKS, of this
        issuer, for this client (aud), unexpired when it has an exp, and every rule of
        :mod:`providers.oidc.logouttoken`. OidcRejected (status 400) with the reason
        otherwise (``backchannel_logout_disabled`` when it is not enabled);
        ProviderUnavailable when the JWKS cannot be fetched."""
        if self.logout_policy is None:
            raise OidcRejected("backchannel_logout_disabled", 400)
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise OidcRejected("malformed_token", 400)
        header = jwt_header(token)
        if header is None:
            raise OidcRejected("malformed_token", 400)
        logouttoken.check_header(header)
        try:
            # exp became REQUIRED in 2023; Keycloak before 22.0.8/23.0.4 and others omit it,
            # so an exp is checked when present, and the iat window bounds every token.
            claims = self._verify(token, (self.settings.client_id,), header, ("iss", "aud", "iat"))
        except OidcRejected as rejected:
            raise OidcRejected(rejected.reason, 400) from None
        return logouttoken.logout_notice(
            claims, self.issuer, time.time(), self.settings.backchannel_logout.max_token_age_seconds
        )

    # -- the token path -----------------------------------------------------------------------

    def accepts_jwt_tokens(self) -> bool:
        """Whether some JWT (an ID token, or an access token for an audience) may be accepted."""
        tokens = self.settings.tokens
        return tokens.accept_id_tokens or bool(tokens.access_token_audiences)

    def introspects_opaque_tokens(self) -> bool:
        """Whether opaque tokens are introspected here (``tokens.introspection``)."""
        return self.settings.tokens.introspection

    def identity_from_token(self, token: str) -> Identity:
        """The identity a bearer token of this IdP proves.

        A JWT's kind comes from its header ``typ`` and, for a plain JWT, its payload; its key
        from the issuer's JWKS and ``kid``, and its signature is verified once, with iss exact
        and exp and aud required:

        * header typ ``at+jwt``: an access token (RFC 9068), never an ID token;
        * header typ absent or ``JWT``: verified for any configured audience (client_id with
          ``tokens.accept_id_tokens``, and ``tokens.access_token_audiences``), then a payload
          typ ``Bearer`` (Keycloak) makes it an access token and ``ID`` an ID token; without a
          payload typ, an aud naming an access token audience makes it an access token (Entra
          ID, Okta), otherwise it is an ID token;
        * any other header typ (``logout+jwt``, ``secevent+jwt``, ...) or payload typ
          (``Refresh``, ``Offline``, ``Logout``, ...): ``token_not_accepted``.

        An access token needs ``tokens.access_token_audiences`` and an aud among them (its azp
        may be any client); an ID token needs ``tokens.accept_id_tokens``, client_id in aud, iat
        and sub, and azp = client_id when azp is present or aud lists several audiences
        (``token_not_accepted``, ``bad_audience``, ``missing_claim``, ``bad_azp``); both need
        sub for the identity (``bad_subject``). Anything else is opaque:
        introspected (RFC 7662) only with ``tokens.introspection``; it must be active, a bearer
        access token (``token_type``/``typ`` Bearer: not a refresh token), of this issuer if it
        says, unexpired, and issued to this client (``client_id``) or for it or a configured
        audience (``aud``); userinfo, asked with the token, fills in a missing username.
        OidcRejected or ProviderUnavailable otherwise.
        """
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
            raise OidcRejected("malformed_token")
        header = jwt_header(token)
        if header is None:
            return self._identity(self._introspection.claims(token))
        typed_access = jwtrules.header_says_access_token(header)
        audiences = tuple(self._access_audiences) if typed_access else self._jwt_audiences
        if not audiences:
            raise OidcRejected("token_not_accepted")
        claims = self._verify(token, audiences, header)
        if jwtrules.jwt_kind(claims, self._access_audiences, typed_access=typed_access) == "access":
            jwtrules.check_access_token(claims, self._access_audiences)
        else:
            jwtrules.check_id_token(claims, self.settings, token_path=True)
        return self._identity(claims)

    # -- health, lifecycle ----------------------------------------------------------------------

    def health(self) -> str:
        """ "ok" when the discovery document is at hand (cached or fetched now), else why not."""
        try:
            self._metadata.document()
        except ProviderUnavailable as error:
            return error.reason
        return "ok"

    def check_health(self) -> HealthReport:
        """Healthy when :meth:`health` says "ok"."""
        answer = self.health()
        return (
            HealthReport(True, "discovery document available")
            if answer == "ok"
            else HealthReport(False, answer)
        )

    def close(self) -> None:
        if self._own_session:
            self._session.close()

    # -- steps ----------------------------------------------------------------------------------

    def _verify(
        self,
        token: str,
        audiences: tuple[str, ...],
        header: Mapping[str, Any] | None = None,
        require: tuple[str, ...] = ("exp", "iss", "aud"),
    ) -> dict[str, Any]:
        """The claims of a JWT signed by this IdP (the key its JWKS holds for the header's kid
        and alg) for one of ``audiences``, with this issuer and an exp; OidcRejected if not.
        ``header`` is the token's, when the caller has read it already. What kind of token it
        is, and the rules of that kind, are the caller's business."""
        header = header if header is not None else jwt_header(token)
        if header is None:
            raise OidcRejected("malformed_token")
        key = self._metadata.signing_key(header)
        return jwtrules.verified_claims(token, key, audiences, self.issuer, require)

    def _wants_userinfo(self, claims: Mapping[str, Any]) -> bool:
        settings = self.settings
        if settings.userinfo != "fallback":
            return settings.userinfo == "always"
        wanted = [settings.username_claim]
        if settings.groups_claim:
            wanted.append(settings.groups_claim)
        if "email" in settings.scopes:
            wanted.append("email")
        if settings.require_email_verified:
            wanted.append("email_verified")
        return not all(has_claim(claims, path) for path in wanted)

    def _identity(self, claims: Mapping[str, Any]) -> Identity:
        return identity_from_claims(self.id, self.issuer, claims, self.settings, self._canonical)


def _same_secret(given: Any, kept: Any) -> bool:
    """Whether two non-empty strings are equal, compared in constant time."""
    if not isinstance(given, str) or not isinstance(kept, str) or not kept:
        return False
    return hmac.compare_digest(given.encode(), kept.encode())


def _with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` added to whatever query it already has."""
    parts = urlsplit(url)
    query = urlencode(params)
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))
