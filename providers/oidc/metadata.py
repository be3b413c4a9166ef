"""The IdP's discovery document and signing keys, fetched over HTTP and cached.

Shared by every thread of a worker. Each document is fetched by one thread at a time; the
others wait at most one timeout for it, then use what that fetch gave (or its failure), so an
IdP that hangs costs a login about one timeout, not one per waiting thread.

* Discovery is kept ``discovery_ttl_seconds``; when a refetch fails the stale document is
  served (and not retried for a while), since endpoints rarely move but IdPs do go down.
* The JWKS is kept as long, and fetched again when a token names a ``kid`` it lacks (at most
  every ``jwks_min_refresh_seconds``): that is how an IdP's key rotation is followed, and how
  random kids are kept from turning into a request flood.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import requests

from providers.base import ProviderUnavailable
from providers.oidc.claims import OidcRejected
from providers.oidc.settings import OidcSettings
from providers.strictjson import parse_json
from providers.transport import AnswerTooLarge, bounded_request, watch_connections

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
STALE_RETRY_SECONDS = 30.0
# With nothing cached yet, a failed fetch is not retried for this long: an IdP that is down
# at start costs each login an immediate 503, not a timeout each (a circuit breaker).
COLD_RETRY_SECONDS = 5.0

# The key type (and curve) each algorithm needs: a token's alg must fit the key it names.
_KEY_TYPES: Mapping[str, tuple[str, frozenset[str] | None]] = {
    **{alg: ("RSA", None) for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")},
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}


@dataclass(frozen=True)
class Answer:
    """An IdP's HTTP answer, read in full."""

    status: int
    content_type: str
    body: bytes

    def json(self) -> dict[str, Any] | None:
        """The body's JSON object, or None when it is not one (or is hostile JSON: nested too
        deep, duplicate keys, ... see :mod:`providers.strictjson`)."""
        try:
            data = parse_json(self.body, max_bytes=MAX_BODY_BYTES)
        except ValueError:  # HostileJson is a ValueError
            return None
        return data if isinstance(data, dict) else None


class Http:
    """Outbound calls to one IdP: bounded in time and size, never redirected.

    A connection error, a timeout or a 5xx raises ProviderUnavailable; every other answer is
    returned for the caller to judge.
    """

    def __init__(self, provider_id: str, timeout: float, session: requests.Session):
        self.provider_id = provider_id
        self.timeout = timeout
        self.session = watch_connections(session)

    def request(self, method: str, url: str, what: str, **kwargs: Any) -> Answer:
        """One call, answered within 2 × timeout: connecting and the first byte of the answer
        each get ``timeout`` (requests bounds every socket read), the status line and headers
        must be in 2 × timeout after the call started, and the whole body ``timeout`` after it
        started. Watchdogs shut the connection down at those deadlines, which also ends a read
        blocked on an IdP that drips its answer (headers or body) byte by byte."""
        try:
            response, body = bounded_request(
                self.session,
                method,
                url,
                timeout=(self.timeout, self.timeout),
                deadline=self.timeout,
                headers_deadline=2 * self.timeout,
                max_bytes=MAX_BODY_BYTES,
                **kwargs,
            )
        except requests.Timeout:
            raise ProviderUnavailable(self.provider_id, f"{what}: timed out") from None
        except AnswerTooLarge:
            raise ProviderUnavailable(self.provider_id, f"{what}: answer too large") from None
        except requests.RequestException as error:
            raise ProviderUnavailable(self.provider_id, f"{what}: {type(error).__name__}") from None
        answer = Answer(response.status_code, response.headers.get("Content-Type", ""), body)
        if answer.status >= 500:
            raise ProviderUnavailable(self.provider_id, f"{what}: HTTP {answer.status}")
        return answer

    def get_json(self, url: str, what: str) -> dict[str, Any]:
        """GET a JSON object that must answer 200 (anything else is the IdP's failure)."""
        answer = self.request("GET", url, what, headers={"Accept": "application/json"})
        if answer.status != 200:
            raise ProviderUnavailable(self.provider_id, f"{what}: HTTP {answer.status}")
        data = answer.json()
        if data is None:
            raise ProviderUnavailable(self.provider_id, f"{what}: not a JSON object")
        return data


class _Cached:
    """One fetched value, fetched again by one thread at a time."""

    def __init__(self, provider_id: str, what: str, fetch: Callable[[], Any], wait: float):
        self._provider_id = provider_id
        self._what = what
        self._fetch = fetch
        self._wait = wait
        self._lock = threading.Lock()
        self.value: Any = None
        self.fetched_at = float("-inf")  # monotonic time of the last successful fetch
        self.attempted_at = float("-inf")  # ... of the last attempt, successful or not
        self._attempts = 0
        self._error: ProviderUnavailable | None = None
        self._failed_at = float("-inf")  # ... when the last attempt ended in failure

    def get(self, usable: Callable[[_Cached], bool]) -> Any:
        """The value, fetched again first unless ``usable(self)`` says the current one will do."""
        if self.value is not None and usable(self):
            return self.value
        self._fail_fast_while_broken()
        attempts = self._attempts
        if not self._lock.acquire(timeout=self._wait):
            if self.value is not None:
                return self.value
            raise ProviderUnavailable(self._provider_id, f"{self._what}: timed out")
        try:
            if self.value is not None and usable(self):
                return self.value
            # A failure that ended while this thread waited counts even if the attempt began
            # before this thread looked: no second full timeout for the same outage.
            self._fail_fast_while_broken()
            if self._attempts != attempts and self._error is not None:
                # Someone else just tried while this thread waited: the same answer.
                if self.value is not None:
                    return self.value
                raise ProviderUnavailable(self._error.provider_id, self._error.reason)
            return self._refresh()
        finally:
            self._lock.release()

    def _fail_fast_while_broken(self) -> None:
        """Raise the last error if nothing was ever fetched and the last failure is recent."""
        error = self._error
        if (
            self.value is None
            and error is not None
            and time.monotonic() - self._failed_at < COLD_RETRY_SECONDS
        ):
            raise ProviderUnavailable(error.provider_id, error.reason)

    def _refresh(self) -> Any:
        self._attempts += 1
        self.attempted_at = time.monotonic()
        try:
            value = self._fetch()
        except ProviderUnavailable as error:
            self._error, self._failed_at = error, time.monotonic()
            if self.value is None:
                raise
            log.warning(
                "oidc %s: %s refetch failed (%s); keeping the cached one",
                self._provider_id,
                self._what,
                error.reason,
            )
            return self.value
        self._error = None
        self.value, self.fetched_at = value, time.monotonic()
        return value


class Metadata:
    """Discovery and JWKS of one IdP."""

    def __init__(self, provider_id: str, settings: OidcSettings, http: Http):
        self.provider_id = provider_id
        self.settings = settings
        self._http = http
        self._discovery = _Cached(provider_id, "discovery", self._fetch_discovery, settings.timeout_seconds)
        self._jwks = _Cached(provider_id, "jwks", self._fetch_jwks, settings.timeout_seconds)

    # -- discovery --------------------------------------------------------------------------

    def document(self) -> Mapping[str, Any]:
        """The discovery document (cached). ProviderUnavailable when there is none to be had."""
        document: Mapping[str, Any] = self._discovery.get(self._fresh)
        return document

    def endpoint(self, name: str) -> str | None:
        """An endpoint URL the discovery document advertises, or None."""
        value = self.document().get(name)
        return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None

    def _fresh(self, cached: _Cached) -> bool:
        now = time.monotonic()
        if now - cached.fetched_at < self.settings.discovery_ttl_seconds:
            return True
        # After a failed refetch the stale document is served a while before trying again.
        return cached.attempted_at > cached.fetched_at and now - cached.attempted_at < STALE_RETRY_SECONDS

    def _fetch_discovery(self) -> dict[str, Any]:
        document = self._http.get_json(self.settings.discovery_document_url, "discovery")
        if document.get("issuer") != self.settings.issuer:
            log.error(
                "oidc %s: discovery says issuer %r, configured %r",
                self.provider_id,
                document.get("issuer"),
                self.settings.issuer,
            )
            raise ProviderUnavailable(self.provider_id, "issuer mismatch in discovery")
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = document.get(name)
            if not isinstance(value, str) or not value.startswith(("https://", "http://")):
                raise ProviderUnavailable(self.provider_id, f"discovery has no {name}")
        return document

    # -- keys -------------------------------------------------------------------------------

    def signing_key(self, header: Mapping[str, Any]) -> jwt.PyJWK:
        """The JWK that must have signed a token with this header, bound to the header's alg.

        The alg must be one of the configured ones and fit the key (type, curve and the key's
        own ``alg``), so HS256 with the public key as secret, or ``none``, never verifies.
        OidcRejected (``alg_not_allowed``, ``unknown_key``, ``bad_key``) otherwise.
        """
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.settings.algorithms or alg not in _KEY_TYPES:
            raise OidcRejected("alg_not_allowed")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise OidcRejected("unknown_key")
        found = self._find(kid, alg, self._jwks.get(self._keys_fresh))
        if found is None:
            found = self._find(kid, alg, self._jwks.get(self._keys_fresh_enough))
        if found is None:
            raise OidcRejected("unknown_key")
        kty, curves = _KEY_TYPES[alg]
        if (
            found.get("kty") != kty
            or (curves and found.get("crv") not in curves)
            or found.get("alg", alg) != alg
        ):
            raise OidcRejected("alg_not_allowed")
        try:
            return jwt.PyJWK(dict(found), algorithm=alg)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            raise OidcRejected("bad_key") from None

    @staticmethod
    def _find(kid: str | None, alg: str, keys: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
        if kid is not None:
            return next((key for key in keys if key.get("kid") == kid), None)
        # No kid: only unambiguous when the set holds a single key of the right type.
        kty = _KEY_TYPES[alg][0]
        candidates = [key for key in keys if key.get("kty") == kty]
        return candidates[0] if len(candidates) == 1 else None

    def _keys_fresh(self, cached: _Cached) -> bool:
        return self._fresh(cached)

    def _keys_fresh_enough(self, cached: _Cached) -> bool:
        # An unknown kid: refetch, unless the keys were (tried to be) fetched very recently.
        return time.monotonic() - cached.attempted_at < self.settings.jwks_min_refresh_seconds

    def _fetch_jwks(self) -> list[Mapping[str, Any]]:
        uri = self.endpoint("jwks_uri")
        if uri is None:
            raise ProviderUnavailable(self.provider_id, "discovery has no jwks_uri")
        keys = self._http.get_json(uri, "jwks").get("keys")
        if not isinstance(keys, list):
            raise ProviderUnavailable(self.provider_id, "jwks: no keys")
        # Only public signature keys; a symmetric ("oct") key in a JWKS is never trusted.
        return [
            key
            for key in keys
            if isinstance(key, dict)
            and key.get("kty") in ("RSA", "EC", "OKP")
            and key.get("use", "sig") == "sig"
            and not {"d", "p", "q"} & set(key)
        ]
