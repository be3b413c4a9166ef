"""An OpenID Connect IdP as a callback provider (browser login) and a token provider (bearer).

The browser login is the authorization code flow with PKCE S256, a fresh ``state`` and
``nonce`` per login, RFC 9207's ``iss`` check, and an ID token verified against the IdP's
published keys. The token path accepts, each only when configured, this IdP's ID tokens,
its JWT access tokens for a named audience (RFC 9068 ``at+jwt``, or the plain ``JWT`` ones
Keycloak, Entra ID and Okta issue), or opaque tokens it introspects.

An IdP that cannot be reached, hangs or answers 5xx raises ProviderUnavailable (the gateway
answers 503); everything the IdP or the browser got wrong raises OidcRejected. Tokens,
codes and secrets are never logged.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import http.cookiejar
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import jwt
import requests
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from providers.base import HealthReport, Identity, ProviderUnavailable
from providers.oidc.claims import OidcRejected, has_claim, identity_from_claims
from providers.oidc.metadata import Answer, Http, Metadata
from providers.oidc.settings import OidcSettings
from providers.strictjson import parse_json

__all__ = ["FinishedLogin", "OidcProvider", "OidcRejected"]

log = logging.getLogger(__name__)
MAX_CONCURRENT_INTROSPECTIONS = 4  # per process

LEEWAY_SECONDS = 60
MAX_TOKEN_LENGTH = 16384
# Header typ values (RFC 7515: compared case-insensitively, "application/" may be omitted).
_ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")
_PLAIN_TYPES = (None, "jwt", "application/jwt")
# Keycloak's payload typ: "ID" and "Bearer" name ID and access tokens; every other value
# (Refresh, Offline, Logout, ...) is a token that must never pass as either.
_PAYLOAD_KINDS = {"id": "id", "bearer": "access"}
# Claims about the token itself: userinfo never overrides the ID token's.
_TOKEN_CLAIMS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "nonce",
        "azp",
        "auth_time",
        "at_hash",
        "c_hash",
        "jti",
        "sid",
        "acr",
        "amr",
    }
)
_JWT_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "bad_audience"),
    (jwt.InvalidIssuerError, "bad_issuer"),
    (jwt.InvalidAlgorithmError, "alg_not_allowed"),
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.InvalidIssuedAtError, "bad_iat"),
    (jwt.DecodeError, "malformed_token"),
)
_MISSING_CLAIM_REASONS = {"aud": "bad_audience", "iss": "bad_issuer"}
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class FinishedLogin:
    """What :meth:`OidcProvider.finish` proved: the identity, and the raw ID token it was
    verified from (for ``id_token_hint`` at the IdP's logout; a secret, never logged)."""

    identity: Identity
    id_token: str = field(repr=False)


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
        self._http = Http(provider_id, settings.timeout_seconds, session)
        self._introspections = threading.BoundedSemaphore(MAX_CONCURRENT_INTROSPECTIONS)
        self._metadata = Metadata(provider_id, settings, self._http)
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
            shown = error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else "(malformed)"
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
        tokens = self._exchange(code, redirect_uri, verifier)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcRejected("missing_id_token")
        claims = self._verify(id_token, (self.settings.client_id,))
        self._check_id_token(claims)
        if not _same_secret(claims.get("nonce"), transaction.get("nonce")):
            raise OidcRejected("nonce_mismatch")
        if self._wants_userinfo(claims):
            claims = _merged(
                claims,
                self._userinfo(
                    tokens.get("access_token"), claims.get("sub"), required=self.settings.userinfo == "always"
                ),
            )
        return FinishedLogin(self._identity(claims), id_token)

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

    # -- the token path -----------------------------------------------------------------------

    def accepts_jwt_tokens(self) -> bool:
        """Whether some JWT (an ID token, or an access token for an audience) may be accepted."""
        tokens = self.settings.tokens
        return tokens.accept_id_tokens or bool(tokens.access_token_audiences)

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
        header = _jwt_header(token)
        if header is None:
            return self._introspected(token)
        typed_access = _header_says_access_token(header)
        audiences = tuple(self._access_audiences) if typed_access else self._jwt_audiences
        if not audiences:
            raise OidcRejected("token_not_accepted")
        claims = self._verify(token, audiences, header)
        if self._jwt_kind(claims, typed_access=typed_access) == "access":
            self._check_access_token(claims)
        else:
            self._check_id_token(claims, token_path=True)
        return self._identity(claims)

    def _jwt_kind(self, claims: Mapping[str, Any], *, typed_access: bool) -> str:
        """``"access"`` or ``"id"``: what a verified JWT is, by its header (``typed_access``:
        typ at+jwt), else its payload typ, else whether its aud names an access token audience
        (which wins over client_id). OidcRejected ``token_not_accepted`` for other payload typs."""
        kind = _payload_kind(claims, "access" if typed_access else None)
        if kind is not None:
            return kind
        return "access" if _audiences(claims) & self._access_audiences else "id"

    def _check_access_token(self, claims: Mapping[str, Any]) -> None:
        """OidcRejected unless access tokens are accepted and ``claims`` (already verified) are
        for one of their audiences. sub is checked with the identity."""
        if not self._access_audiences:
            raise OidcRejected("token_not_accepted")
        if not _audiences(claims) & self._access_audiences:
            raise OidcRejected("bad_audience")

    def _check_id_token(self, claims: Mapping[str, Any], *, token_path: bool = False) -> None:
        """OidcRejected unless ``claims`` (already verified) are an ID token for this client:
        client_id in aud, iat and sub present, and azp this client when it is there or aud
        names several audiences. On the token path ID tokens must also be accepted."""
        if token_path and not self.settings.tokens.accept_id_tokens:
            raise OidcRejected("token_not_accepted")
        if self.settings.client_id not in _audiences(claims):
            raise OidcRejected("bad_audience")
        if any(claims.get(name) is None for name in ("iat", "sub")):
            raise OidcRejected("missing_claim")
        azp, aud = claims.get("azp"), claims.get("aud")
        if (azp is not None or (isinstance(aud, list) and len(aud) > 1)) and azp != self.settings.client_id:
            raise OidcRejected("bad_azp")

    def _introspected(self, token: str) -> Identity:
        if not self.settings.tokens.introspection:
            raise OidcRejected("token_not_accepted")
        endpoint = self._metadata.endpoint("introspection_endpoint")
        if endpoint is None:
            raise ProviderUnavailable(self.id, "discovery has no introspection_endpoint")
        # Anyone can present an opaque token; a slow IdP must not take every worker thread.
        if not self._introspections.acquire(timeout=self.settings.timeout_seconds):
            raise ProviderUnavailable(self.id, "introspection: too many at once")
        try:
            answer = self._post(
                endpoint, {"token": token, "token_type_hint": "access_token"}, "introspection"
            )
        finally:
            self._introspections.release()
        if answer.status != 200:
            self._refused_client(answer, "introspection")
            raise OidcRejected("token_rejected")
        info = answer.json()
        if info is None:
            raise ProviderUnavailable(self.id, "introspection: not a JSON object")
        if info.get("active") is not True:
            raise OidcRejected("inactive_token")
        if "iss" in info and info["iss"] != self.issuer:
            raise OidcRejected("bad_issuer")
        if not _says_bearer(info):
            raise OidcRejected("bad_token_type")
        exp = info.get("exp")
        if isinstance(exp, (int, float)) and exp + LEEWAY_SECONDS < time.time():
            raise OidcRejected("expired")
        if not self._bound_to_us(info):
            raise OidcRejected("bad_audience")
        if not has_claim(info, self.settings.username_claim):
            info = _merged(info, self._userinfo(token, info.get("sub"), required=True))
        return self._identity(info)

    def _bound_to_us(self, info: Mapping[str, Any]) -> bool:
        # Confidential clients may introspect any client's token: this one must be for us.
        audiences = info.get("aud")
        audiences = (
            [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
        )
        ours = {self.settings.client_id, *self.settings.tokens.access_token_audiences}
        return info.get("client_id") == self.settings.client_id or any(
            isinstance(audience, str) and audience in ours for audience in audiences
        )

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

    def _post(self, url: str, data: dict[str, str], what: str) -> Answer:
        """POST a form to the IdP with this client's authentication."""
        settings = self.settings
        auth = None
        if settings.client_auth == "client_secret_basic":
            # RFC 6749 2.3.1: form-encoded before Basic, which matters for secrets with ":" or "%".
            auth = (quote(settings.client_id, safe=""), quote(settings.client_secret or "", safe=""))
        elif settings.client_auth == "client_secret_post":
            data = {**data, "client_id": settings.client_id, "client_secret": settings.client_secret or ""}
        else:
            data = {**data, "client_id": settings.client_id}
        return self._http.request(
            "POST", url, what, data=data, auth=auth, headers={"Accept": "application/json"}
        )

    def _refused_client(self, answer: Answer, what: str) -> None:
        """ProviderUnavailable when the IdP refused this client itself: a misconfiguration
        (wrong secret or auth method) that no user can get past."""
        error = (answer.json() or {}).get("error")
        if answer.status == 401 or error == "invalid_client":
            log.error(
                "oidc %s: the IdP refused the client credentials at %s (HTTP %s)",
                self.id,
                what,
                answer.status,
            )
            raise ProviderUnavailable(self.id, f"{what}: client authentication refused")
        if not 400 <= answer.status < 500:
            raise ProviderUnavailable(self.id, f"{what}: HTTP {answer.status}")
        code = error if isinstance(error, str) and _ERROR_CODE.fullmatch(error) else "(none)"
        log.info("oidc %s: %s refused with HTTP %s, error %s", self.id, what, answer.status, code)

    def _exchange(self, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        endpoint = self._metadata.document()["token_endpoint"]  # checked at discovery
        answer = self._post(
            endpoint,
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
            "token",
        )
        if answer.status != 200:
            self._refused_client(answer, "token")
            raise OidcRejected("code_rejected")  # invalid_grant: reused, expired, wrong verifier
        tokens = answer.json()
        if tokens is None:
            raise ProviderUnavailable(self.id, "token: not a JSON object")
        return tokens

    def _verify(
        self, token: str, audiences: tuple[str, ...], header: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The claims of a JWT signed by this IdP (the key its JWKS holds for the header's kid
        and alg) for one of ``audiences``, with this issuer and an exp; OidcRejected if not.
        ``header`` is the token's, when the caller has read it already. What kind of token it
        is, and the rules of that kind, are the caller's business."""
        header = header if header is not None else _jwt_header(token)
        if header is None:
            raise OidcRejected("malformed_token")
        key = self._metadata.signing_key(header)
        try:
            return jwt.decode(
                token,
                key=key,
                algorithms=[key.algorithm_name],
                audience=list(audiences),
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.MissingRequiredClaimError as error:
            raise OidcRejected(_MISSING_CLAIM_REASONS.get(error.claim, "missing_claim")) from None
        except jwt.InvalidTokenError as error:
            reason = next((reason for kind, reason in _JWT_ERRORS if isinstance(error, kind)), "bad_token")
            raise OidcRejected(reason) from None

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

    def _userinfo(self, access_token: Any, sub: Any, *, required: bool) -> dict[str, Any]:
        """The userinfo claims for ``access_token``; their sub must be ``sub``. Without a
        userinfo endpoint: nothing, or ProviderUnavailable when ``required``."""
        endpoint = self._metadata.endpoint("userinfo_endpoint")
        if endpoint is None:
            if required:
                raise ProviderUnavailable(self.id, "discovery has no userinfo_endpoint")
            return {}
        if not isinstance(access_token, str) or not access_token:
            raise ProviderUnavailable(self.id, "token: no access_token for userinfo")
        answer = self._http.request(
            "GET",
            endpoint,
            "userinfo",
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if answer.status in (401, 403):
            raise OidcRejected("userinfo_refused")
        if answer.status != 200:
            raise ProviderUnavailable(self.id, f"userinfo: HTTP {answer.status}")
        info = answer.json()
        if info is None:
            raise ProviderUnavailable(
                self.id, "userinfo: not a JSON object (signed userinfo is not supported)"
            )
        if not isinstance(sub, str) or info.get("sub") != sub:
            raise OidcRejected("userinfo_sub_mismatch")
        return info

    def _identity(self, claims: Mapping[str, Any]) -> Identity:
        return identity_from_claims(self.id, self.issuer, claims, self.settings, self._canonical)


def _same_secret(given: Any, kept: Any) -> bool:
    """Whether two non-empty strings are equal, compared in constant time."""
    if not isinstance(given, str) or not isinstance(kept, str) or not kept:
        return False
    return hmac.compare_digest(given.encode(), kept.encode())


def _says_bearer(info: Mapping[str, Any]) -> bool:
    """Whether an introspection answer calls the token a bearer access token. A refresh token
    (oidc-provider names no type for it, Keycloak says ``typ: Refresh``) or a DPoP-bound
    token must not pass as one."""
    kinds = [info.get(name) for name in ("token_type", "typ") if info.get(name) is not None]
    return bool(kinds) and all(isinstance(kind, str) and kind.lower() == "bearer" for kind in kinds)


def _header_says_access_token(header: Mapping[str, Any]) -> bool:
    """True for header typ ``at+jwt`` (RFC 9068), False for a plain JWT (typ absent or
    ``JWT``); OidcRejected ``token_not_accepted`` for any other typ (a logout token, a security
    event, ...)."""
    typ = header.get("typ")
    kind = typ.lower() if isinstance(typ, str) else typ
    if kind in _ACCESS_TOKEN_TYPES:
        return True
    if kind in _PLAIN_TYPES:
        return False
    raise OidcRejected("token_not_accepted")


def _payload_kind(claims: Mapping[str, Any], default: str | None) -> str | None:
    """The kind (``"id"`` or ``"access"``) a verified payload's ``typ`` names, ``default`` when
    it has none; OidcRejected ``token_not_accepted`` for any other typ (Keycloak's Refresh,
    Offline, Logout, ...) and for an ID token where ``default`` says access token."""
    typ = claims.get("typ")
    if typ is None:
        return default
    kind = _PAYLOAD_KINDS.get(typ.lower()) if isinstance(typ, str) else None
    if kind is None or (default is not None and kind != default):
        raise OidcRejected("token_not_accepted")
    return kind


def _audiences(claims: Mapping[str, Any]) -> set[str]:
    """The string audiences of ``aud`` (one string or a list)."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return {aud}
    return {item for item in aud if isinstance(item, str)} if isinstance(aud, list) else set()


def unverified_segment(segment: str) -> dict[str, Any] | None:
    """The JSON object a compact JWS segment encodes (base64url), read without verification
    by the bounded parser (:mod:`providers.strictjson`); None when it is anything else."""
    try:
        data = parse_json(
            base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)), max_bytes=MAX_TOKEN_LENGTH
        )
    except (ValueError, binascii.Error):  # HostileJson is a ValueError
        return None
    return data if isinstance(data, dict) else None


def _jwt_header(token: str) -> dict[str, Any] | None:
    """The unverified header of a compact JWS (three segments), or None when it is not one.
    The bounded parser reads it first: pyjwt's own ``json.loads`` only ever sees a header that
    parser accepted (no nesting that exhausts the stack, no duplicate keys)."""
    if token.count(".") != 2 or unverified_segment(token.split(".", 1)[0]) is None:
        return None
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        return None
    return header if isinstance(header.get("alg"), str) else None


def _merged(claims: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``claims`` with ``extra``'s user claims on top; the token's own claims stay."""
    return {**claims, **{key: value for key, value in extra.items() if key not in _TOKEN_CLAIMS}}


def _with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` added to whatever query it already has."""
    parts = urlsplit(url)
    query = urlencode(params)
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))
