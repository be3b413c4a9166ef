"""A real OpenID Provider for tests: panva's certified ``oidc-provider`` (npm,
9.x) under Node, on a free loopback port, issuer ``http://127.0.0.1:<port>``.

``OidcProviderServer.start(tmpdir, clients=[...], users=[...])`` writes a
JSON config (0600: it holds client secrets, passwords and private keys) and
runs ``node tests/support/oidc/provider.mjs CONFIG`` in its own process group, with
the helpers of :mod:`tests.support.servers` (atexit cleanup, parent-death signal).
Readiness is the discovery document answering.  The Node side needs
``tests/support/oidc/node_modules``: install it with :data:`INSTALL_COMMAND` (run
from the repository root); ``bash scripts/test`` does that.

What the provider serves (see ``tests/support/oidc/provider.mjs``):

* authorization code flow only (``response_types: code``), PKCE S256
  required for every client, RFC 9207 ``iss`` in authorization responses;
  client auth ``client_secret_basic`` (default) or ``client_secret_post``;
  refresh tokens for clients allowed the ``refresh_token`` grant (no
  ``offline_access`` needed);
* scopes ``openid profile email groups`` (+ ``offline_access``); ``groups``
  carries ``groups``, ``realm_access`` and ``resource_access`` (Keycloak-like);
  the claims of the granted scopes are in the ID token *and* at userinfo;
* a plain HTML login page (form with inputs ``login`` and ``password``,
  posting to ``/interaction/<uid>/login``; login by ``preferred_username``,
  ``email`` or ``sub``); a wrong password answers 401 with the form again;
* consent: granted automatically for every client, except a client whose
  metadata has ``"consent": "prompt"`` (our own key, removed before
  oidc-provider sees it; the default is ``"auto"``): after the login it gets
  a consent page (``form#consent-form`` listing the requested scopes in
  ``ul#scopes``, one ``li[data-scope]`` each; ``button#approve`` creates the
  grant, ``button#deny`` sends the browser back with
  ``error=access_denied``).  An approved grant is remembered for the
  session, so a second login of the same client asks no more.
  :meth:`OidcProviderServer.login_with_requests` answers the page with its
  ``consent`` argument;
* access tokens: opaque (usable at userinfo) unless the request names a
  resource server with ``resource=<indicator>`` (or ``default_resource`` is
  set), then a JWT (RFC 9068, ``typ: at+jwt``) with ``aud`` = the resource
  server's audience, signed with the same key as ID tokens, carrying
  ``preferred_username``, ``email``, ``email_verified``, ``name``, ``groups``,
  ``realm_access`` and
  ``resource_access``.  oidc-provider refuses such audience-bound tokens at
  userinfo (by design), so a test needing both uses two flows;
* token introspection (RFC 7662) and revocation of *opaque* tokens (access
  tokens without resource, refresh tokens, and access tokens of a resource
  server configured with ``"access_token_format": "opaque"``).  JWT access
  tokens cannot be introspected or revoked: oidc-provider answers 400
  ``unsupported_token_type`` ("Structured JWT Tokens cannot be introspected")
  by design, as it does not store them;
* JWKS at ``/jwks``,
  RP-initiated logout at ``/session/end`` (a confirmation form:
  :meth:`OidcProviderServer.logout_with_requests` drives it).

State (sessions, grants, codes, tokens) is in memory: :meth:`restart` loses
it.  Signing keys are RSA-2048 / RS256 generated here; the first one signs.

Plain Python, no pytest import.  Missing ``node`` raises
:class:`tests.support.servers.ServerBinaryMissing` (Debian package ``nodejs``);
missing ``node_modules`` raises :class:`tests.support.servers.ServerStartError`
naming :data:`INSTALL_COMMAND`.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

from tests.support.servers import (
    _ADDR_IN_USE,
    PortInUse,
    ServerBinaryMissing,
    ServerStartError,
    _launcher,
    _Managed,
    _popen,
    find_executable,
    free_port,
    log_since,
    read_logs,
    wait_for,
)

__all__ = [
    "OidcProviderServer",
    "OidcLoginError",
    "ServerBinaryMissing",
    "ServerStartError",
    "ensure_node_modules",
    "node_binary",
    "default_client",
    "default_users",
    "pkce_pair",
    "generate_signing_key",
    "OIDC_DIR",
    "INSTALL_COMMAND",
    "DEFAULT_CLIENT",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERS",
    "DEFAULT_RESOURCE",
    "DEFAULT_RESOURCE_SERVERS",
    "DEFAULT_SCOPE",
]

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
PROVIDER_SCRIPT = OIDC_DIR / "provider.mjs"
#: What scripts/test must run (from the repository root) before the tests.
INSTALL_COMMAND = "npm ci --prefix tests/support/oidc --no-audit --no-fund"

DEFAULT_CLIENT_ID = "registry-gateway"
DEFAULT_CLIENT_SECRET = "registry-gateway-Secret-0123456789"
#: Template of the default confidential client; use :func:`default_client`
#: to get one with the test's redirect URI.
DEFAULT_CLIENT: dict = {
    "client_id": DEFAULT_CLIENT_ID,
    "client_secret": DEFAULT_CLIENT_SECRET,
    "redirect_uris": [],
    "post_logout_redirect_uris": [],
    "grant_types": ["authorization_code", "refresh_token"],
    "response_types": ["code"],
    "token_endpoint_auth_method": "client_secret_basic",
}
DEFAULT_SCOPE = "openid profile email groups"
#: Resource indicator (and JWT ``aud``) of the default resource server.
DEFAULT_RESOURCE = "https://registry.test/api"
DEFAULT_RESOURCE_SERVERS: list[dict] = [
    {
        "indicator": DEFAULT_RESOURCE,
        "audience": DEFAULT_RESOURCE,
        "scope": "registry:read registry:write",
        "access_token_ttl": 600,
    }
]
DEFAULT_PASSWORD = "oidc-Secret-pw-1"
DEFAULT_USERS: list[dict] = [
    {
        "sub": "f3b0c1d2-0001-4a00-9000-000000000001",
        "preferred_username": "alice",
        "password": DEFAULT_PASSWORD,
        "email": "alice@example.test",
        "email_verified": True,
        "name": "Alice Admin",
        "groups": ["registry-admins", "survey-north"],
        "realm_access": {"roles": ["registry-admin", "offline_access"]},
        "resource_access": {DEFAULT_CLIENT_ID: {"roles": ["admin", "upload"]}},
    },
    {
        "sub": "f3b0c1d2-0002-4a00-9000-000000000002",
        "preferred_username": "bob",
        "password": DEFAULT_PASSWORD,
        "email": "bob@example.test",
        "email_verified": False,
        "name": "Bob Viewer",
        "groups": ["survey-north"],
        "realm_access": {"roles": ["registry-user"]},
        "resource_access": {DEFAULT_CLIENT_ID: {"roles": ["read"]}},
    },
]


class OidcLoginError(RuntimeError):
    """The login/consent interaction did not end in a redirect to the client
    (wrong password, provider error page, ...).  ``status`` and ``body`` are
    those of the last response."""

    def __init__(self, message: str, status: int = 0, body: str = ""):
        super().__init__(message)
        self.status = status
        self.body = body


# --------------------------------------------------------------------------
# factories and helpers
# --------------------------------------------------------------------------


def default_client(redirect_uri: str | list[str], **overrides) -> dict:
    """The default confidential client (``registry-gateway``) with the
    test's redirect URI(s); ``overrides`` replace metadata (e.g.
    ``token_endpoint_auth_method="client_secret_post"``,
    ``post_logout_redirect_uris=[...]``)."""
    client = copy.deepcopy(DEFAULT_CLIENT)
    client["redirect_uris"] = [redirect_uri] if isinstance(redirect_uri, str) else list(redirect_uri)
    client.update(overrides)
    return client


def default_users() -> list[dict]:
    """A deep copy of :data:`DEFAULT_USERS` (alice, bob; password :data:`DEFAULT_PASSWORD`)."""
    return copy.deepcopy(DEFAULT_USERS)


def pkce_pair() -> tuple[str, str]:
    """A fresh ``(code_verifier, code_challenge)`` for PKCE S256."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def generate_signing_key() -> dict:
    """A new RSA-2048 private JWK (``alg`` RS256, ``use`` sig, random ``kid``)."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    # pyjwt marks private JWKs key_ops ["sign"]; oidc-provider would then not use the key
    # to verify its own ID tokens (id_token_hint at end_session).
    jwk.pop("key_ops", None)
    jwk.update(kid=f"test-{secrets.token_hex(8)}", alg="RS256", use="sig")
    return jwk


_PUBLIC_JWK_MEMBERS = ("kty", "kid", "use", "alg", "n", "e", "crv", "x", "y")


def _public_jwk(jwk: dict) -> dict:
    return {k: jwk[k] for k in _PUBLIC_JWK_MEMBERS if k in jwk}


_NODE_FALLBACKS = ("/usr/bin/node", "/usr/local/bin/node")


def node_binary() -> str:
    """Path of ``node`` (or Debian's old ``nodejs`` name)."""
    env = os.environ.get("TEST_NODE_BINARY")
    if env:
        if os.access(env, os.X_OK):
            return env
        raise ServerBinaryMissing(f"TEST_NODE_BINARY={env!r} is not executable")
    found = find_executable("node", "nodejs", fallbacks=_NODE_FALLBACKS)
    if found:
        return found
    raise ServerBinaryMissing(
        "node not found; install the Debian package 'nodejs' (apt-get install "
        f"nodejs npm), then {INSTALL_COMMAND}; or run scripts/test which does it"
    )


MIN_NODE_MAJOR = 20  # tested on Node 20 (oidc-provider 9 warns "use v22 LTS" and runs)
_checked_nodes: dict[str, str] = {}


def _check_node_version(node: str) -> str:
    """``node --version`` (cached); :class:`ServerBinaryMissing` when too old."""
    if node not in _checked_nodes:
        try:
            out = subprocess.run(
                [node, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30, check=True
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ServerBinaryMissing(
                f"{node} --version failed ({exc}); install the Debian package 'nodejs'"
            ) from None
        version = out.stdout.decode(errors="replace").strip()
        m = re.match(r"v(\d+)\.", version)
        if not m or int(m.group(1)) < MIN_NODE_MAJOR:
            raise ServerBinaryMissing(
                f"{node} is {version or 'of unknown version'}; oidc-provider 9 needs Node.js "
                f">= {MIN_NODE_MAJOR}: install the Debian package 'nodejs' in version "
                f"{MIN_NODE_MAJOR} or later (Debian 13, or NodeSource for Debian 12)"
            )
        _checked_nodes[node] = version
    return _checked_nodes[node]


def ensure_node_modules() -> Path:
    """The installed ``tests/support/oidc/node_modules/oidc-provider`` directory;
    :class:`ServerStartError` naming :data:`INSTALL_COMMAND` when missing."""
    pkg = OIDC_DIR / "node_modules" / "oidc-provider"
    if not (pkg / "package.json").is_file():
        raise ServerStartError(
            f"{pkg} is missing: run `{INSTALL_COMMAND}` from the repository root (scripts/test does it)"
        )
    return pkg


def _normalize_client(client: dict) -> dict:
    if "client_id" not in client:
        raise ValueError(f"client without client_id: {client!r}")
    out = copy.deepcopy(DEFAULT_CLIENT)
    out["redirect_uris"] = []
    out.update(copy.deepcopy(client))
    if not out["redirect_uris"]:
        raise ValueError(f"client {out['client_id']!r} needs redirect_uris")
    if out.get("token_endpoint_auth_method") == "none":
        out.pop("client_secret", None)
    return out


def _normalize_user(user: dict) -> dict:
    if "sub" not in user:
        raise ValueError(f"user without sub: {user!r}")
    out = copy.deepcopy(user)
    out["sub"] = str(out["sub"])
    out.setdefault("preferred_username", out["sub"])
    return out


# --------------------------------------------------------------------------
# driving the HTML pages with requests
# --------------------------------------------------------------------------


class _FormParser(HTMLParser):
    """Collects forms: action, method, inputs (name -> value) and the
    name/value of submit buttons; buttons with a ``form=`` attribute are
    attached to that form."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._current: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._current = {
                "id": a.get("id", ""),
                "action": a.get("action", ""),
                "method": a.get("method", "get").lower(),
                "inputs": {},
                "buttons": [],
            }
            self.forms.append(self._current)
        elif tag in ("input", "button"):
            form = self._current
            if a.get("form"):
                form = next((f for f in self.forms if f["id"] == a["form"]), form)
            if form is None:
                return
            kind = a.get("type", "submit" if tag == "button" else "text").lower()
            if kind == "submit":
                form["buttons"].append((a.get("name", ""), a.get("value", ""), a.get("id", "")))
            elif a.get("name"):
                form["inputs"][a["name"]] = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def _forms(html: str) -> list[dict]:
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


# --------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------


class OidcProviderServer(_Managed):
    """oidc-provider on ``127.0.0.1:port``.  Attributes: ``issuer``,
    ``port``, ``discovery_url``, ``jwks`` (public JWK set, a dict),
    ``private_jwks`` (the signing keys), ``clients``, ``users``,
    ``resource_servers``, ``base`` (its directory: config and logs),
    ``startup_seconds``."""

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        node: str,
        base: Path,
        port: int,
        clients: list[dict],
        users: list[dict],
        keys: list[dict],
        resource_servers: list[dict],
        default_resource: str | None,
        ttl: dict | None,
    ):
        self.node = node
        self.base = base
        self.clients = clients
        self.users = users
        self.private_jwks: dict = {"keys": keys}
        self.resource_servers = resource_servers
        self.default_resource = default_resource
        self.ttl = dict(ttl or {})
        self._cookie_keys = [secrets.token_urlsafe(32)]
        self.proc = None  # type: ignore[assignment]
        self._set_port(port)

    def _set_port(self, port: int) -> None:
        self.port = port
        self.issuer = f"http://{self.host}:{port}"
        self.base_url = self.issuer
        self.discovery_url = f"{self.issuer}/.well-known/openid-configuration"
        self.jwks_uri = f"{self.issuer}/jwks"
        self.authorization_endpoint = f"{self.issuer}/auth"
        self.token_endpoint = f"{self.issuer}/token"
        self.userinfo_endpoint = f"{self.issuer}/me"
        self.introspection_endpoint = f"{self.issuer}/token/introspection"
        self.revocation_endpoint = f"{self.issuer}/token/revocation"
        self.end_session_endpoint = f"{self.issuer}/session/end"

    def __repr__(self) -> str:
        return f"<OidcProviderServer {self.issuer}>"

    # -- keys -----------------------------------------------------------------
    @property
    def jwks(self) -> dict:
        """The public JWK set the provider publishes (computed locally)."""
        return {"keys": [_public_jwk(k) for k in self.private_jwks["keys"]]}

    @property
    def kids(self) -> list[str]:
        return [k["kid"] for k in self.private_jwks["keys"]]

    # -- logs -----------------------------------------------------------------
    @property
    def stdout_path(self) -> Path:
        return self.base / "oidc-provider.stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.base / "oidc-provider.stderr.log"

    def log_text(self) -> str:
        """Everything the provider wrote so far (stdout: one line per
        request without query string, logins; then stderr)."""
        return read_logs(self.stdout_path, self.stderr_path)

    # -- lifecycle --------------------------------------------------------------
    @classmethod
    def start(
        cls,
        tmpdir,
        *,
        clients: list[dict],
        users: list[dict],
        signing_keys: int = 1,
        timeout: float = 30.0,
        resource_servers: list[dict] | None = None,
        default_resource: str | None = None,
        ttl: dict | None = None,
    ) -> OidcProviderServer:
        """Start a provider with ``clients`` (oidc-provider client metadata;
        see :func:`default_client`) and ``users`` (see :data:`DEFAULT_USERS`)
        and ``signing_keys`` fresh RSA keys (1 or 2; the first signs).
        ``resource_servers`` defaults to :data:`DEFAULT_RESOURCE_SERVERS`;
        each is ``{"indicator", "audience", "scope", "access_token_ttl",
        "access_token_format": "jwt" | "opaque"}``; ``default_resource`` (an
        indicator) is used when a request names no ``resource``, so every
        access token is for it; ``ttl`` overrides oidc-provider lifetimes in seconds (e.g.
        ``{"AccessToken": 5, "IdToken": 5}``)."""
        if signing_keys < 1:
            raise ValueError("signing_keys must be >= 1")
        node = node_binary()
        _check_node_version(node)
        ensure_node_modules()
        t0 = time.monotonic()
        tmpdir = Path(tmpdir)
        tmpdir.mkdir(parents=True, exist_ok=True)
        base = Path(tempfile.mkdtemp(prefix="oidc-provider-", dir=tmpdir))
        os.chmod(base, 0o700)
        keys = [generate_signing_key() for _ in range(signing_keys)]
        rs = copy.deepcopy(DEFAULT_RESOURCE_SERVERS if resource_servers is None else resource_servers)
        if default_resource is not None and default_resource not in {r["indicator"] for r in rs}:
            raise ValueError(f"default_resource {default_resource!r} is not a resource server")
        last_log = ""
        for _attempt in range(3):  # a new port only on a port race
            server = cls(
                node=node,
                base=base,
                port=free_port(),
                clients=[_normalize_client(c) for c in clients],
                users=[_normalize_user(u) for u in users],
                keys=keys,
                resource_servers=rs,
                default_resource=default_resource,
                ttl=ttl,
            )
            try:
                server._launch(timeout)
            except PortInUse as exc:
                last_log = str(exc)
                continue
            server.startup_seconds = time.monotonic() - t0
            return server
        raise ServerStartError(f"oidc-provider could not bind a port:\n{last_log}")

    @property
    def config_path(self) -> Path:
        return self.base / "config.json"

    def _write_config(self) -> None:
        config = {
            "issuer": self.issuer,
            "host": self.host,
            "port": self.port,
            "cookie_keys": self._cookie_keys,
            "jwks": self.private_jwks,
            "clients": self.clients,
            "users": self.users,
            "resource_servers": self.resource_servers,
            "default_resource": self.default_resource,
            "ttl": self.ttl,
        }
        tmp = self.base / "config.json.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(config, fh, indent=1)
        os.replace(tmp, self.config_path)

    def _launch(self, timeout: float) -> None:
        import requests

        self._write_config()
        log_before = self.stderr_path.stat().st_size if self.stderr_path.exists() else 0
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NODE_", "DEBUG"))}
        env["NODE_ENV"] = "test"
        cmd = _launcher(None, "KILL") + [self.node, str(PROVIDER_SCRIPT), str(self.config_path)]
        self.proc = _popen(cmd, self.base, "oidc-provider", env=env, cwd=str(OIDC_DIR))
        self._register()
        proc = self.proc
        http = requests.Session()
        http.trust_env = False

        def ready():
            if proc.poll() is not None:
                raise ServerStartError("exited")
            r = http.get(self.discovery_url, timeout=1.0)
            return r.status_code == 200 and r.json().get("issuer") == self.issuer

        try:
            wait_for(ready, timeout=timeout, interval=0.05)
        except (TimeoutError, ServerStartError):
            exited = proc.poll() is not None
            self.kill()
            tail = log_since(self.stderr_path, log_before)
            if exited and _ADDR_IN_USE.search(tail):
                raise PortInUse(tail) from None
            raise ServerStartError(
                f"oidc-provider did not serve {self.discovery_url} within {timeout:.0f}s "
                f"(exit code {proc.returncode}); last lines of its stderr:\n{tail}"
            ) from None
        finally:
            http.close()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (it exits at once); SIGKILL to the group after ``timeout``."""
        if self.proc is not None:
            self._terminate(timeout)
        self._unregister()

    def restart(
        self, *, rotate_keys: bool = False, keep_previous_key: bool = False, timeout: float = 30.0
    ) -> None:
        """Stop and start again on the same port (in-memory sessions, grants
        and tokens are lost).  ``rotate_keys`` replaces the signing keys with
        as many fresh ones; with ``keep_previous_key`` the old signing key
        stays published (after the new ones) so tokens it signed still
        verify."""
        self.stop()
        if rotate_keys:
            old = self.private_jwks["keys"]
            new = [generate_signing_key() for _ in old]
            if keep_previous_key:
                new.append(old[0])
            self.private_jwks = {"keys": new}
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            try:
                self._launch(max(1.0, deadline - time.monotonic()))
                break
            except PortInUse as exc:
                if time.monotonic() >= deadline:
                    raise ServerStartError(f"oidc-provider could not re-bind {self.issuer}:\n{exc}") from None
                time.sleep(0.2)
        self.startup_seconds = time.monotonic() - t0

    def pause(self) -> None:
        """SIGSTOP: the port stays open, nothing answers (a hung IdP)."""
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        self._signal_group(signal.SIGCONT)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- client-side helpers ------------------------------------------------------
    def http_session(self):
        """A ``requests.Session`` that ignores proxy settings."""
        import requests

        session = requests.Session()
        session.trust_env = False
        return session

    def discovery(self, timeout: float = 5.0) -> dict:
        with self.http_session() as s:
            r = s.get(self.discovery_url, timeout=timeout)
            r.raise_for_status()
            return r.json()

    def fetch_jwks(self, timeout: float = 5.0) -> dict:
        """The JWK set as served at ``/jwks``."""
        with self.http_session() as s:
            r = s.get(self.jwks_uri, timeout=timeout)
            r.raise_for_status()
            return r.json()

    def authorize_url(
        self,
        *,
        redirect_uri: str,
        code_challenge: str,
        client_id: str = DEFAULT_CLIENT_ID,
        scope: str = DEFAULT_SCOPE,
        state: str | None = None,
        nonce: str | None = None,
        **extra,
    ) -> str:
        """An authorization request URL (code flow, PKCE S256); ``extra``
        adds parameters (``resource=``, ``prompt=``, ``login_hint=``, ...)."""
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        if state is not None:
            params["state"] = state
        if nonce is not None:
            params["nonce"] = nonce
        params.update({k: v for k, v in extra.items() if v is not None})
        return f"{self.authorization_endpoint}?{urlencode(params)}"

    def _is_ours(self, url: str) -> bool:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}" == self.issuer

    def _follow(self, session, response, timeout: float, max_hops: int = 20):
        """Follow redirects while they stay on the provider; return the
        first response that is not such a redirect, or the URL of a
        redirect that leaves the provider."""
        for _ in range(max_hops):
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            location = urljoin(response.url, response.headers["Location"])
            if not self._is_ours(location):
                return location
            response = session.get(location, allow_redirects=False, timeout=timeout)
        raise OidcLoginError(f"more than {max_hops} redirects at the provider")

    def login_with_requests(
        self,
        authorize_url: str,
        username: str,
        password: str,
        session=None,
        timeout: float = 10.0,
        consent: str | None = None,
    ) -> str:
        """Drive ``authorize_url`` like a browser with a ``requests.Session``
        (kept cookies make a second call single sign-on): submit the login
        form if the provider shows it, and return the final redirect URL
        (the client's redirect_uri with ``code``, ``state``, ``iss``, or with
        ``error``) without following it.  :class:`OidcLoginError` when the
        provider answers with a page instead (wrong password: status 401).
        ``consent`` answers the consent page of a ``"consent": "prompt"``
        client: ``"approve"`` or ``"deny"``; ``None`` (default) leaves it
        unanswered, an :class:`OidcLoginError` with status 200."""
        own = session is None
        session = session or self.http_session()
        try:
            r = session.get(authorize_url, allow_redirects=False, timeout=timeout)
            result = self._follow(session, r, timeout)
            if isinstance(result, str):
                return result  # already signed in (SSO) or an error redirect
            form = next((f for f in _forms(result.text) if "password" in f["inputs"]), None)
            if form is None and consent is not None:  # signed in, but asked for consent
                result = self._answer_consent(session, result, consent, timeout)
                if isinstance(result, str):
                    return result
            if form is None:
                raise OidcLoginError(
                    f"expected the login form, got HTTP {result.status_code} at {result.url}",
                    result.status_code,
                    result.text,
                )
            data = dict(form["inputs"])
            data.update(login=username, password=password)
            action = urljoin(result.url, form["action"])
            r = session.post(action, data=data, allow_redirects=False, timeout=timeout)
            result = self._follow(session, r, timeout)
            if not isinstance(result, str) and consent is not None:
                result = self._answer_consent(session, result, consent, timeout)
            if isinstance(result, str):
                return result
            raise OidcLoginError(
                f"login as {username!r} did not finish: HTTP {result.status_code} at {result.url}",
                result.status_code,
                result.text,
            )
        finally:
            if own:
                session.close()

    def _answer_consent(self, session, page, answer: str, timeout: float):
        """Submit the consent page's approve (``"approve"``) or deny
        (``"deny"``) form; the next response or redirect URL as in
        :meth:`_follow`.  A page without the consent form is returned as is."""
        wanted = {"approve": "consent-form", "deny": "deny-form"}.get(answer)
        if wanted is None:
            raise ValueError(f"consent must be 'approve' or 'deny', not {answer!r}")
        form = next((f for f in _forms(page.text) if f["id"] == wanted), None)
        if form is None:
            return page
        r = session.post(
            urljoin(page.url, form["action"]), data=form["inputs"], allow_redirects=False, timeout=timeout
        )
        return self._follow(session, r, timeout)

    def logout_with_requests(self, end_session_url: str, session, timeout: float = 10.0) -> str:
        """Drive RP-initiated logout (``end_session_url`` with
        ``id_token_hint``/``post_logout_redirect_uri``/``state``...) in
        ``session``: confirm the sign-out form and return the final redirect
        URL (post_logout_redirect_uri) or the provider's success page URL."""
        r = session.get(end_session_url, allow_redirects=False, timeout=timeout)
        result = self._follow(session, r, timeout)
        if isinstance(result, str):
            return result
        form = next((f for f in _forms(result.text) if "xsrf" in f["inputs"]), None)
        if form is None:
            raise OidcLoginError(
                f"expected the logout form, got HTTP {result.status_code} at {result.url}",
                result.status_code,
                result.text,
            )
        data = dict(form["inputs"], logout="yes")
        r = session.post(
            urljoin(result.url, form["action"]), data=data, allow_redirects=False, timeout=timeout
        )
        result = self._follow(session, r, timeout)
        return result if isinstance(result, str) else result.url
