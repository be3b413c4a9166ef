"""Browser single sign-on, without Flask: start a login, finish it, end it.

The flow (contract §3): the browser starts at ``/sso/login/<provider>``; :meth:`SsoService.begin`
seals the provider's transaction (state, nonce, PKCE verifier, where to go next, expiry after
TRANSACTION_SECONDS) for a cookie of its own (:mod:`gateway.sso.transactions`) and stores nothing, so
anonymous requests there cannot fill anything or crowd out anyone's login. The IdP sends the
browser back to ``/sso/callback/<provider>``; :meth:`SsoService.complete` opens the cookie named
after the callback's ``state`` (so a callback only completes in the browser that started it),
then spends the transaction with one set-if-absent of a marker in the shared state store, kept
until the transaction would have expired (so a replay is refused on every replica), and only then
lets the provider exchange the code and validate the callback. The login service
(:mod:`gateway.login.service`) then admits the identity (one owner per username, not disabled),
applies the mapping's ``require`` gate and opens the SSO session (:meth:`SsoService.open_sso_session`)
the gateway token is minted for. The session keeps the login's ID token, sealed under a key
of its own (ID_TOKEN_HKDF_INFO), so a top-level sign-out can send it to the IdP as
``id_token_hint``. Ending the session revokes every token minted for it, on every replica, since
sessions live in the database, and forgets that ID token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from gateway.config.errors import ConfigError
from gateway.config.settingsobjects import GatewayConfig, SsoSettings
from gateway.login.accounts import AccountRegistry
from gateway.login.federation import Federation
from gateway.observe.audit import AuditLog
from gateway.sso.redirects import RedirectAllowlist
from gateway.sso.sessions import SessionRecord, SessionStore
from gateway.sso.transactions import TransactionSeal, UnreadableTransaction
from gateway.storage.state import StateStore
from gateway.tokens import InvalidToken, TokenService
from gateway.tokens.sealing import BrokenSeal, Sealer
from providers.base import CallbackProvider, Identity, LoginRejected, ProviderUnavailable
from providers.sql import utcnow

log = logging.getLogger(__name__)

TRANSACTION_SECONDS = 600
# Transaction cookies one browser keeps (logins started in several tabs); starting one more
# expires the oldest, so the Cookie header stays small.
MAX_TRANSACTION_COOKIES = 5
MARKER_CLOCK_MARGIN_SECONDS = 300
_STATE = re.compile(r"[A-Za-z0-9_.~-]{16,128}")
# The key that seals the ID tokens sessions keep for id_token_hint, and what it authenticates.
ID_TOKEN_HKDF_INFO = b"dronedb-auth-gateway sso id token v1"
_ID_TOKEN_ASSOCIATED_DATA = b"sso id token hint v1"
MAX_ID_TOKEN_HINT_CHARS = 16384  # a longer ID token is not kept: the sign-out goes without it


@dataclass
class SsoError(Exception):
    """A browser login that cannot go on. ``status`` is the HTTP status of the page shown,
    ``reason`` a short class for logs and audit, ``message`` what the person reads."""

    status: int
    reason: str
    message: str
    # The IdP refused the person (not the transaction): audited as a refused login.
    refused_by_idp: bool = False


EXPIRED = "This sign-in attempt has expired or was already used. Please start again."
FAILED = "Sign-in failed. Please start again."
NOT_ALLOWED = "Your account is not allowed to sign in to the Registry. Ask your administrator."
UNAVAILABLE = "The sign-in service cannot be reached right now. Please try again in a few minutes."


@dataclass(frozen=True)
class StartedLogin:
    """Where to send the browser, and the sealed transaction it must carry back in the cookie
    named after ``state`` (:func:`transaction_tag`)."""

    url: str
    state: str
    sealed: str


@dataclass(frozen=True)
class FinishedCallback:
    """What the IdP proved at the callback: the identity (not yet admitted), the ID token a
    session may keep for the sign-out, and where the browser goes on to."""

    identity: Identity
    id_token: str
    next_url: str
    idp_session: str | None = None  # the IdP's sid, for its back-channel logout


class SsoService:
    def __init__(
        self,
        config: GatewayConfig,
        public_url: str,
        store: StateStore,
        federation: Federation,
        accounts: AccountRegistry,
        sessions: SessionStore,
        tokens: TokenService,
        audit: AuditLog,
        *,
        secret: str,
        clock: Callable[[], float] = time.time,
    ):
        """``secret`` is the shared server secret (GATEWAY_KEY_ENCRYPTION_KEY) the transaction
        cookies are sealed under; ``clock`` the wall clock their expiry is measured by."""
        self.settings = config.sso
        self.public_url = public_url
        self.redirects = RedirectAllowlist(
            ([self.settings.registry_login_url] if self.settings.registry_login_url else [])
            + list(self.settings.allowed_next)
        )
        self._store = store
        self._accounts = accounts
        self._sessions = sessions
        self._tokens = tokens
        self._audit = audit
        self.transactions = TransactionSeal(secret, TRANSACTION_SECONDS, clock)
        self._id_tokens = Sealer(secret, ID_TOKEN_HKDF_INFO, _ID_TOKEN_ASSOCIATED_DATA)
        self.session_lifetime = timedelta(
            seconds=self.settings.session_lifetime_seconds or config.tokens.session_lifetime_seconds
        )
        self.token_lifetime = min(
            timedelta(seconds=self.settings.token_lifetime_seconds or config.tokens.lifetime_seconds),
            self.session_lifetime,
        )
        self._federation = federation
        self.replace_providers(federation.providers())

    def replace_providers(self, providers: Iterable[object]) -> None:
        """Offer the browser sign-in of ``providers`` from now on (the provider set changed)."""
        self.providers: dict[str, CallbackProvider] = {
            provider.id: provider for provider in providers if isinstance(provider, CallbackProvider)
        }

    @property
    def enabled(self) -> bool:
        return self.settings.enabled and bool(self.providers)

    @property
    def logout_url(self) -> str:
        return f"{self.public_url}/sso/logout"

    def callback_url(self, provider_id: str) -> str:
        return f"{self.public_url}/sso/callback/{provider_id}"

    def browser_providers(self) -> list[CallbackProvider]:
        """The providers a browser may sign in with: none with browser sign-on off, and never
        one configured ``browser_login: false`` (token path only)."""
        if not self.enabled:
            return []
        return [provider for provider in self.providers.values() if provider.sign_in_button is not None]

    def display_name(self, provider_id: str) -> str:
        """What pages call a provider: a browser-login provider's display name, else its id."""
        provider = self.providers.get(provider_id)
        return provider.display_name if provider is not None else provider_id

    def provider(self, provider_id: str) -> CallbackProvider:
        """The provider a browser may sign in with (:meth:`browser_providers`); SsoError
        404 for any other."""
        provider = self.providers.get(provider_id)
        if provider is None or provider not in self.browser_providers():
            raise SsoError(404, "unknown_provider", "There is no such sign-in option.")
        return provider

    def begin(self, provider_id: str, next_url: str | None) -> StartedLogin:
        """The IdP URL to send the browser to, with the sealed transaction for its cookie.
        Writes nothing to the state store.

        Raises SsoError: 404 for an unknown provider, 400 for a ``next`` outside the allowlist,
        503 when the IdP (discovery) cannot be reached.
        """
        provider = self.provider(provider_id)
        target = self.settings.registry_login_url if next_url is None else next_url
        if target is None or not self.redirects.allows(target):
            raise SsoError(400, "next_not_allowed", "That return address is not allowed.")
        try:
            url, transaction = provider.start(self.callback_url(provider_id))
        except ProviderUnavailable as error:
            log.warning("sso login: provider %s unavailable: %s", provider_id, error.reason)
            raise SsoError(503, "provider_unavailable", UNAVAILABLE) from None
        return StartedLogin(
            url, transaction["state"], self.transactions.seal(provider_id, transaction, target)
        )

    def stale_transactions(self, cookies: Mapping[str, str]) -> list[str]:
        """Of a browser's transaction cookies (name -> sealed value), the names to expire so
        that, with the one about to be added, it keeps at most MAX_TRANSACTION_COOKIES: the
        oldest first, unreadable or expired ones before any other."""
        excess = len(cookies) - (MAX_TRANSACTION_COOKIES - 1)
        if excess <= 0:
            return []
        return sorted(cookies, key=lambda name: self._issued_at(cookies[name]))[:excess]

    def _issued_at(self, sealed: str) -> float:
        try:
            return self.transactions.open(sealed).issued_at
        except UnreadableTransaction:
            return float("-inf")

    def complete(self, provider_id: str, params: dict[str, str], sealed: str | None) -> FinishedCallback:
        """Spend the transaction the callback ``params`` answer and let the provider exchange
        the code; ``sealed`` is the value of the transaction cookie named after their
        ``state``, if the browser sent one. Admission, the ``require`` gate and the session are
        the login service's (:meth:`gateway.login.service.LoginService.sso_callback`).

        Raises SsoError: 400 for a missing, malformed, foreign (another browser's, another
        provider's), tampered, expired or reused transaction; 401/403 for a login the IdP
        refused; 503 for an outage. StoreUnavailable (a 503) when the single-use marker cannot
        be written.
        """
        provider = self.provider(provider_id)
        state = params.get("state") or ""
        if not _STATE.fullmatch(state):
            raise SsoError(400, "bad_state", EXPIRED)
        if sealed is None:
            raise SsoError(400, "unknown_state", EXPIRED)
        try:
            record = self.transactions.open(sealed)
        except UnreadableTransaction as unreadable:
            raise SsoError(400, unreadable.reason, EXPIRED) from None
        if record.provider != provider_id or not hmac.compare_digest(record.state.encode(), state.encode()):
            raise SsoError(400, "foreign_state", EXPIRED)
        remaining = record.expires_at - self.transactions.now()
        # Single use, whatever happens next, on every replica. The marker need only last as
        # long as the cookie could still open (after that it is refused as expired anyway),
        # plus a margin for clocks of replicas and Redis that disagree.
        if not self._store.add("sso:used:" + _digest(state), "1", remaining + MARKER_CLOCK_MARGIN_SECONDS):
            raise SsoError(400, "reused_state", EXPIRED)
        try:
            finished = provider.finish(self.callback_url(provider_id), params, record.transaction)
        except LoginRejected as rejected:
            message = NOT_ALLOWED if rejected.status == 403 else FAILED
            raise SsoError(rejected.status, rejected.reason, message, refused_by_idp=True) from None
        except ProviderUnavailable as error:
            log.warning("sso callback: provider %s unavailable: %s", provider_id, error.reason)
            raise SsoError(503, "provider_unavailable", UNAVAILABLE) from None
        return FinishedCallback(finished.identity, finished.id_token, record.next_url, finished.idp_session)

    def open_sso_session(
        self, identity: Identity, id_token: str, idp_session: str | None = None
    ) -> SessionRecord | None:
        """A session for an admitted SSO identity, keeping its ID token for the sign-out, the
        IdP's session id for its back-channel logout, and its snapshot for app passwords; None
        when the account was disabled while this login was under way (the session is then
        revoked at once)."""
        self._accounts.record_snapshot(identity)
        session = self._sessions.create(
            identity,
            self.session_lifetime,
            sealed_id_token=self._sealed_id_token(id_token),
            idp_session=idp_session,
        )
        owner = self._accounts.owner_of(identity.username)
        if owner is None or owner.disabled:
            self._sessions.revoke(session.id)
            return None
        return session

    def _sealed_id_token(self, id_token: str) -> str | None:
        """The ID token sealed for its session to keep; None (keep nothing) when it is longer
        than MAX_ID_TOKEN_HINT_CHARS."""
        if len(id_token) > MAX_ID_TOKEN_HINT_CHARS:
            return None
        return self._id_tokens.seal(id_token.encode("utf-8"))

    def open_session(self, identity: Identity) -> SessionRecord:
        """A session for an identity already admitted some other way (a password form,
        ``POST /api/token``); the login service records the login. The caller mints the token
        it needs for it (a Registry token with :meth:`mint_for`, or an admin API token)."""
        return self._sessions.create(identity, self.session_lifetime)

    def mint_for(self, session: SessionRecord) -> str:
        """A token bound to ``session``, lasting the token lifetime but never past the session."""
        return self._tokens.mint(
            session.username, session.id, expires_at=min(session.expires_at, utcnow() + self.token_lifetime)
        )

    def active_session(self, session_id: str | None) -> SessionRecord | None:
        """The browser's session if it is active and the provider it was opened through is
        still in force (a disabled or removed provider signs nobody in, not even by cookie)."""
        record = self._sessions.get_active(session_id) if session_id else None
        if record is None or not self._federation.in_force(record.provider):
            return None
        return record

    def session_of_token(self, token: str | None) -> str | None:
        """The session id of a gateway token if it verifies (signature, issuer, audience, and
        not expired), else None."""
        if not token:
            return None
        try:
            return self._tokens.verify(token).session_id
        except InvalidToken:
            return None

    def end(self, session_ids: set[str]) -> SessionRecord | None:
        """Revoke these sessions; return the first one that was still active, or None."""
        ended = None
        for session_id in sorted(session_ids):
            record = self._sessions.get_active(session_id)
            if self._sessions.revoke(session_id) and record is not None:
                ended = ended or record
                self._audit.record("logout", "ok", username=record.username, provider=record.provider)
        return ended

    def sign_out(self, session_ids: set[str]) -> str | None:
        """End these sessions (:meth:`end`) and return where a top-level sign-out continues:
        the IdP logout of the first one that was active (:meth:`idp_logout_url`), with the ID
        token it kept, read before ending it clears it; None when there is none."""
        first = next(filter(None, map(self._sessions.get_active, sorted(session_ids))), None)
        hinted = self._sessions.with_sealed_id_token(first) if first is not None else None
        self.end(session_ids)
        return self.idp_logout_url(hinted)

    def idp_logout_url(self, session: SessionRecord | None) -> str | None:
        """Where a top-level sign-out continues: the IdP's end-session endpoint, if any, with
        ``id_token_hint`` when ``session`` carries a sealed ID token that opens (see
        :meth:`sign_out`). This URL is the only place the ID token ever leaves the gateway."""
        provider = self.providers.get(session.provider) if session is not None else None
        if session is None or provider is None:
            return None
        return provider.end_session_url(f"{self.public_url}/sso/signed-out", self._id_token_hint(session))

    def _id_token_hint(self, session: SessionRecord) -> str | None:
        """The ID token ``session`` keeps, or None: none kept, or one that does not open (the
        server secret changed), which is logged without the token."""
        if session.sealed_id_token is None:
            return None
        try:
            return self._id_tokens.open(session.sealed_id_token).decode("utf-8")
        except (BrokenSeal, UnicodeDecodeError):
            log.info(
                "sso sign-out: the ID token kept with a %s session does not open (server "
                "secret changed?); continuing to the IdP without id_token_hint",
                session.provider,
            )
            return None


def check_cookie_reach(public_url: str, settings: SsoSettings, source: str) -> None:
    """Refuse a configuration whose ``xAuthToken`` cookie the Registry's page could never read:
    the cookie is set by the gateway's host, for ``cookie_domain`` (or that host alone), and
    every page a login returns to must be inside it, on the same scheme when the cookie is
    Secure (contract §3). A single-label domain such as ``com`` is refused as browsers do."""
    login_url = settings.registry_login_url
    if login_url is None:  # browser sign-on is off (not settings.enabled)
        return
    gateway = urlsplit(public_url)
    gateway_host = (gateway.hostname or "").lower()
    domain = settings.cookie_domain
    if domain is not None and "." not in domain:
        raise ConfigError(
            source, "sso.cookie_domain", f"{domain} is a top-level domain; browsers refuse cookies for it"
        )
    targets = [("sso.registry_login_url", login_url)] + [
        (f"sso.allowed_next[{i}]", url) for i, url in enumerate(settings.allowed_next)
    ]
    if domain is not None and not _inside(gateway_host, domain):
        raise ConfigError(
            source,
            "sso.cookie_domain",
            f"{domain} does not cover the host of GATEWAY_PUBLIC_URL ({gateway_host})",
        )
    for key, url in targets:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if domain is None and host != gateway_host:
            raise ConfigError(
                source,
                "sso.cookie_domain",
                f"is required: the gateway ({gateway_host}) and {key} ({host}) are on "
                "different hosts; give their shared parent domain",
            )
        if domain is not None and not _inside(host, domain):
            raise ConfigError(
                source, "sso.cookie_domain", f"{domain} does not cover the host of {key} ({host})"
            )
        if gateway.scheme == "https" and parts.scheme != "https":
            raise ConfigError(
                source,
                key,
                "must be https: the gateway's cookies are Secure, so an http page cannot read them",
            )


def _inside(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def transaction_tag(state: str) -> str:
    """What names a transaction's cookie: 16 hex characters of a digest of its ``state``, so a
    callback finds its own transaction among several started in other tabs."""
    return _digest(state)[:16]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
