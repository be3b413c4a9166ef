"""A stand-in for a DroneDB Registry and its Hub web client, for the tests of the
gateway's single sign-on, of the map-tile path and of the Registry client (see
``docs/registry-contract.md``).

Plain Python, no pytest import.  ``RegistryStub.start(external_auth_url)``
serves on a free loopback port in a background thread (werkzeug, threaded);
``stop()`` ends it, and every stub still running is stopped at interpreter
exit.  In the browser it is reached under a mapped host name
(:meth:`RegistryStub.url_for`, e.g. ``http://hub.example.test:PORT``; see
:func:`tests.support.browser.launch_browser`).

What it serves:

``GET /login``
    A page whose inline JavaScript behaves like the Hub's login page
    (``webapp/js/libs/utils.js`` ``getCookie``, ``libs/api/xauth.js``,
    ``features/account/Login.vue``):

    * the cookie parser is the Hub's, flaws included: ``document.cookie`` is
      split on ``;``, each pair on ``=``; the name is the text before the
      first ``=``, the value only the text between the first and the second
      ``=``; both are trimmed and ``decodeURIComponent``-ed.  A pair without
      ``=`` or a bad percent sequence in *any* cookie on the page makes the
      parser throw (``#status`` = ``cookie-error ...``), as it does in the Hub.
      (Deviation: an empty ``document.cookie``, where the Hub's parser also
      throws, shows ``no-token``.)
    * ``xAuthToken``'s value is split on ``|``: token = part 0, logout URL =
      part 1 (the Hub's ``split("|")[0]`` / ``[1]``: a ``|`` inside the logout
      URL would cut it there);
    * with a token it POSTs ``token=<token>`` (``application/x-www-form-
      urlencoded``; the real Hub sends multipart ``FormData``, which the
      Registry reads the same way) to ``/users/authenticate`` and renders the
      answer: ``#status`` (``ok`` / ``denied <http status>`` / ``error ...``),
      ``#username``, ``#roles`` (JSON of the answer's ``roles``), ``#quota``
      (the raw JSON source text of ``maxStorageMB``, its JS ``typeof`` and
      ``integer`` / ``non-integer`` by ``Number.isInteger``, e.g. ``51200
      number integer``; ``10240.0 number integer`` shows a float the Registry
      would ignore; ``absent`` when missing), ``#answer`` (the whole body);
    * ``#token`` and ``#logout-url`` hold what the parser found (text and
      ``data-value``); ``#cookies-before`` the ``document.cookie`` seen;
    * button ``#logout``: like the Hub's ``xAuthLogout``, appends a 1x1
      ``<iframe id="logout-frame">`` whose src is the logout URL and waits for
      its ``load`` event, then sets ``#logged-out`` to ``logged out`` and
      ``#cookies-after`` to ``document.cookie``.  (Chromium fires ``load``
      also when the frame was refused by ``frame-ancestors``; check the
      frame's content with Playwright to tell, see :func:`logout`.)
    * without a token: ``#status`` = ``no-token``.  Status starts as
      ``pending``.

``POST /users/authenticate``
    Like ``Registry.Web/Controllers/UsersController.cs`` ``Authenticate`` and
    ``Services/Managers/RemoteLoginManager.cs`` ``CheckAccess``: form field ``token`` (non-
    blank) is relayed alone; else ``username`` + ``password``.  The relay is a server-side form
    POST to ``external_auth_url`` with ``Accept: application/json`` (``requests``,
    ``trust_env=False``, a timeout).  Then, as the Registry does:

    * a non-2xx answer is a refusal: 401 ``{"error": "Unauthorized", "noRetry": false}``;
    * a 2xx answer is parsed as a JSON object (Newtonsoft ``Dictionary<string, object>``); an
      array, a bare string or HTML throws, and so does a connection error or a timeout
      (``RemoteLoginManager`` catches only ``WebException``, which ``HttpClient`` never throws);
      ``UsersController`` catches every exception and answers **400** ``{"error": <the
      exception's message>, "noRetry": false}`` (``Models/ControllerBaseEx.cs``
      ``ExceptionResult``);
    * password path: the account is found by the **typed** username, upper-cased as ASP.NET
      Identity's normaliser does (``Alice`` and ``alıce`` find ``alice``), or created under that
      spelling (``UsersManager.cs`` ``Authenticate``, ``CreateUserInternal``): a name outside
      Identity's default alphabet ``a-z A-Z 0-9 - . _ @ +`` fails creation, 400 ``Error in
      creating user``, and no account is made;
    * token path: the account is the answer's ``username``, which must be a JSON string; a
      missing or non-string one is a 400 (``FindByNameAsync(null)`` throws);
    * an empty or ``null`` 2xx body: a new account (and its default organization) is created
      first, then dereferencing the ``null`` metadata throws: 400 and a half-made account;
    * the whole answer becomes the metadata and ``roles``, when an array, replaces the roles
      (:meth:`RegistryDatabase.login`).

    The Registry's ``PasswordPolicy`` is not modelled (the stand-in runs without one, as the
    gateway's docs tell operators to).  With ``issue_tokens`` the answer is the Registry's own
    (``username``, ``token``, ``expires``), else the gateway's answer, as the login page renders
    it.  Every relay is recorded in :attr:`RegistryStub.calls`.

``GET /orgs/<org>/ds/<ds>/mvt/<hash>/<z>/<x>/<y>.pbf``
    A map tile of a private dataset, as ``Registry.Web/Controllers/MvtController.cs``
    ``GetTile`` serves it behind ``Registry.Web/Filters/BasicAuthFilter.cs``: on **every**
    request with ``Authorization: Basic``, the credentials (base64 of ISO-8859-1
    ``username:password``) are relayed to the gateway as a password login
    (``UsersManager.Authenticate`` -> ``RemoteLoginManager.CheckAccess``), the answer's
    metadata replaces the user's and ``roles`` (an array) replaces their roles
    (``UsersManager.SyncRoles``), recorded in :attr:`RegistryStub.users`. A 2xx answer makes
    the request authenticated: 200 with tile bytes, unless the user's roles hold
    ``deactivated`` (``AuthManager``: even public data is refused). A non-2xx answer, no header
    or bad base64 (``FormatException``, the only exception the filter catches) leave it
    anonymous: 401 with ``WWW-Authenticate: Basic realm="DroneDB"``
    (``SendBasicAuthRequest``), so a GIS client asks for the password again. Decoded text
    without ``:`` throws an uncaught exception in the filter: 500. Coordinates outside
    ``0 <= z <= 24``, ``x, y >= 0`` are a 400 before the access check (the filter has
    relayed the credentials already, as in the Registry). An exception during the login
    itself (the gateway unreachable, a 2xx answer that is not a JSON object) escapes the filter
    too: 500.

``POST /users/authenticate/refresh``, ``GET /users/meta``, ``GET /users/roles``, ``GET /orgs``
    Bearer-token calls of any account (:mod:`tests.support.registry.adminapi`): refresh is
    refused for a deleted or ``deactivated`` account; ``GET /orgs`` refuses a ``deactivated``
    caller (roles are read per request, so a write of ``deactivated`` cuts existing tokens).

The admin API of contract §2.6
    ``POST/GET /users/{name}/meta``, ``PUT/DELETE /users/{name}``, ``GET /users/detailed``,
    ``GET /users/{name}/storage``, ``GET/POST /users/{name}/orgs``,
    ``PUT/DELETE /users/{name}/orgs/{slug}``, ``POST /orgs``: see
    :mod:`tests.support.registry.adminapi`; accounts, organizations and the Registry's HS256
    JWTs live in :mod:`tests.support.registry.database`.

``GET /``
    Redirects to ``/login``.

Test switches: :meth:`RegistryStub.set_down` (connection refused or 503),
:meth:`RegistryStub.rotate_secret` (every issued JWT becomes invalid),
:meth:`RegistryStub.set_storage_used`.

Host names of ``external_auth_url`` that match ``host_map`` (default
``*.example.test``) are connected to on 127.0.0.1 with the original ``Host``
header, so the stub can relay to ``http://auth.example.test:PORT/...`` like a
Registry whose DNS knows that name.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.support.registry.adminapi import add_bearer_routes
from tests.support.registry.database import RegistryDatabase, RegistryFailure, bad_request
from tests.support.registry.loginpage import LOGIN_PAGE
from tests.support.registry.wsgi import BackgroundWsgiServer

DOWN_MODES = ("refused", "unavailable")
_DENIED = object()  # the gateway's answer was not a 2xx: LoginResultDto.Success = false


def _string_username(answer: dict[str, Any] | None) -> str | None:
    """``obj?.SafeGetValue("username") as string`` (RemoteLoginManager.cs, the token path)."""
    value = answer.get("username") if answer is not None else None
    return value if isinstance(value, str) else None


class RegistryStub:
    """A stand-in for a DroneDB Registry and the Hub's login page, relaying logins to
    ``external_auth_url`` as the Registry does (see the module docstring for what it models and
    the Registry source file behind each behaviour).

    ``calls`` is a snapshot list of the relayed calls, oldest first, each a dict:
    ``path`` (``"token"`` / ``"password"``), ``fields`` (what was sent to the
    gateway), ``status`` (gateway HTTP status, None on a connection error),
    ``body`` (gateway body text), ``json`` (the parsed body or None),
    ``error`` (connection error text or None), ``answered`` (the status the
    stand-in gave its caller). ``log`` holds the lines the Registry would log about each
    exchange (:attr:`log`): whatever the gateway answers there, an operator reads.

    ``users`` is the account table (see :class:`RegistryDatabase`), ``db`` the
    whole database (organizations, the JWT secret).  With ``issue_tokens`` the
    authenticate answer is the Registry's own (``username``, ``token``,
    ``expires``); without it (the default, for the login-page tests) it is the
    gateway's answer, as the page renders it.
    """

    def __init__(
        self,
        external_auth_url: str,
        *,
        host: str = "127.0.0.1",
        host_map: Iterable[str] = ("*.example.test",),
        timeout: float = 10.0,
        issue_tokens: bool = False,
        default_organizations: bool = True,
        token_lifetime_seconds: int = 7 * 86400,
        tls: tuple[str, str] | None = None,
    ):
        self.external_auth_url = external_auth_url
        self.host = host
        self.host_map = tuple(host_map)
        self.timeout = timeout
        self.port: int | None = None
        self._calls: list[dict[str, Any]] = []
        self._log: list[str] = []  # the Registry's Information-level lines about the exchange
        self._calls_lock = threading.Lock()
        self._server: BackgroundWsgiServer | None = None
        self.issue_tokens = issue_tokens
        self.db = RegistryDatabase(
            default_organizations=default_organizations, token_lifetime_seconds=token_lifetime_seconds
        )
        # username -> {"metadata": the last answer, "roles": [...], ...}, as the Registry's
        # database keeps them after each relayed login (roles read from here on every request).
        self.users: dict[str, dict[str, Any]] = self.db.users
        self.down: str | None = None
        self.tls = tls  # (certificate file, key file): served over https
        self._http = threading.local()  # one pooled session per thread, like .NET's HttpClient

    # -- lifecycle ---------------------------------------------------------
    @classmethod
    def start(
        cls,
        external_auth_url: str,
        host: str = "127.0.0.1",
        *,
        host_map: Iterable[str] = ("*.example.test",),
        timeout: float = 10.0,
        **options: Any,
    ) -> RegistryStub:
        """A running stub on ``host``:<free port> relaying to ``external_auth_url``
        (``options``: ``issue_tokens``, ``default_organizations``, ``token_lifetime_seconds``,
        ``tls``)."""
        stub = cls(external_auth_url, host=host, host_map=host_map, timeout=timeout, **options)
        stub._serve()
        return stub

    def _serve(self) -> None:
        self._server = BackgroundWsgiServer(
            self._make_app(), host=self.host, name="registry-stub", port=self.port, ssl_context=self.tls
        )
        self.port = self._server.port

    # -- test switches -------------------------------------------------------
    def set_down(self, mode: str | None) -> None:
        """Simulate an outage: ``"refused"`` stops listening (connection refused),
        ``"unavailable"`` answers every request 503 (a Registry behind a proxy
        while it restarts), None comes back on the same port with the same data."""
        if mode is not None and mode not in DOWN_MODES:
            raise ValueError(f"mode must be one of {DOWN_MODES} or None")
        if self.down == "refused" and mode != "refused":
            self._serve()
        self.down = mode
        if mode == "refused":
            server, self._server = self._server, None
            if server is not None:
                server.stop()

    def rotate_secret(self) -> None:
        """A new JWT signing secret: every Registry token issued so far is refused (401)."""
        self.db.rotate_secret()

    def set_storage_used(self, username: str, used_bytes: int) -> None:
        """The bytes ``GET /users/{name}/storage`` and ``/users/detailed`` report for the user."""
        self.db.set_storage_used(username, used_bytes)

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> RegistryStub:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- addresses -----------------------------------------------------------
    @property
    def url(self) -> str:
        """``http[s]://<host>:<port>`` (the loopback address it listens on)."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def url_for(self, hostname: str) -> str:
        """The base URL under a browser-mapped host name, e.g.
        ``url_for("hub.example.test")`` -> ``http://hub.example.test:PORT``."""
        return f"http://{hostname}:{self.port}"

    def login_url(self, hostname: str = "hub.example.test") -> str:
        return self.url_for(hostname) + "/login"

    def origin(self, hostname: str = "hub.example.test") -> str:
        """The Registry origin as a browser sees it (for ``frame-ancestors``)."""
        return self.url_for(hostname)

    # -- recorded calls --------------------------------------------------------
    @property
    def calls(self) -> list[dict[str, Any]]:
        with self._calls_lock:
            return [dict(call) for call in self._calls]

    def clear_calls(self) -> None:
        with self._calls_lock:
            self._calls.clear()
            self._log.clear()

    @property
    def log(self) -> list[str]:
        """What ``RemoteLoginManager.cs`` writes to the Registry's log at Information level:
        on the password path the status and body of a refusal and every 2xx body (before it is
        parsed); on the token path a 2xx body once it parsed, and nothing for a refusal."""
        with self._calls_lock:
            return list(self._log)

    def _write_log(self, line: str) -> None:
        with self._calls_lock:
            self._log.append(line)

    def wait_for_calls(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` calls were recorded; return them."""
        deadline = time.monotonic() + timeout
        while True:
            calls = self.calls
            if len(calls) >= count:
                return calls
            if time.monotonic() >= deadline:
                raise TimeoutError(f"registry stand-in: {len(calls)} relayed calls, expected {count}")
            time.sleep(0.02)

    def _record(self, call: dict[str, Any]) -> None:
        with self._calls_lock:
            self._calls.append(call)

    # -- the relay ---------------------------------------------------------------
    def _target(self) -> tuple[str, dict[str, str]]:
        """URL to connect to and extra headers (mapped host names go to 127.0.0.1)."""
        parts = urlsplit(self.external_auth_url)
        hostname = parts.hostname or ""
        if any(fnmatch.fnmatch(hostname.lower(), p.lower()) for p in self.host_map):
            netloc = "127.0.0.1" + (f":{parts.port}" if parts.port else "")
            return urlunsplit(parts._replace(netloc=netloc)), {"Host": parts.netloc}
        return self.external_auth_url, {}

    def relay(
        self, fields: dict[str, str], path: str, *, uncaught_status: int = 400
    ) -> tuple[int, dict[str, Any]]:
        """Relay ``fields`` to the gateway and apply the answer like the Registry; return (status,
        JSON body). ``uncaught_status`` is what an exception in the login becomes: 400 in
        ``UsersController.Authenticate`` (it catches every exception), 500 in the Basic-auth
        filter (it catches only ``FormatException``)."""
        call: dict[str, Any] = {
            "path": path,
            "fields": dict(fields),
            "status": None,
            "body": None,
            "json": None,
            "error": None,
            "answered": None,
        }
        try:
            answer = self._exchange(fields, path, call)
            if answer is _DENIED:
                result: tuple[int, dict[str, Any]] = (401, {"error": "Unauthorized", "noRetry": False})
            else:
                name = fields["username"] if path == "password" else _string_username(answer)
                self._sync_user(name, answer)
                assert answer is not None  # _sync_user throws on a null answer
                result = (200, answer)
        except RegistryFailure as exc:
            result = (uncaught_status, exc.body())
        call["answered"] = result[0]
        self._record(call)
        return result

    def _exchange(self, fields: dict[str, str], path: str, call: dict[str, Any]) -> Any:
        """``RemoteLoginManager.CheckAccess``: POST the form, then the parsed 2xx body (a dict, or
        None for an empty or ``null`` body) or ``_DENIED`` for any other status. A transport
        failure or a body that is not a JSON object raises (only ``WebException`` is caught
        there, and ``HttpClient`` never throws it)."""
        import requests

        url, headers = self._target()
        headers["Accept"] = "application/json"
        try:
            session = getattr(self._http, "session", None)
            if session is None:
                session = self._http.session = requests.Session()
                session.trust_env = False
            res = session.post(url, data=fields, headers=headers, timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            call["error"] = f"{type(exc).__name__}: {exc}"
            # HttpRequestException's message, e.g. "Connection refused (auth:8080)".
            raise bad_request(f"{type(exc).__name__}: {exc}") from None
        call["status"], call["body"] = res.status_code, res.text
        success = 200 <= res.status_code < 300
        if path == "password":
            if success:
                self._write_log(f"CheckAccess for user {fields.get('username')}: {res.text}")
            else:
                self._write_log(
                    "Error while calling external auth service on url "
                    f"{self.external_auth_url}, result code: {res.status_code}, content {res.text}"
                )
        try:
            call["json"] = json.loads(res.text) if res.text.strip() else None
        except ValueError:
            call["json"] = None
            if 200 <= res.status_code < 300:
                raise bad_request("Unexpected character encountered while parsing value") from None
        if not 200 <= res.status_code < 300:
            return _DENIED
        if call["json"] is not None and not isinstance(call["json"], dict):
            raise bad_request(
                "Cannot deserialize the current JSON value into type "
                "'System.Collections.Generic.Dictionary`2[System.String,System.Object]'"
            )
        if path == "token":
            self._write_log(f"CheckAccess (token): {res.text}")
        return call["json"]

    def _sync_user(self, username: str | None, answer: dict[str, Any] | None) -> None:
        """``UsersManager.Authenticate``: the account is found (upper-cased, as Identity's
        normaliser compares) or created with its default organization, the whole answer becomes
        the metadata, and ``roles``, when an array, replaces the roles (anything else leaves
        them as they were). Raises :class:`RegistryFailure` where the Registry throws."""
        self.db.login(username, answer)

    def basic_auth(self, header: str | None) -> tuple[str | None, int | None]:
        """``BasicAuthFilter``: (the authenticated username or None, or None and 500 when the
        filter would throw an exception it does not catch)."""
        import base64
        import binascii

        if header is None or not header.startswith("Basic"):
            return None, None
        try:
            decoded = base64.b64decode(header[len("Basic ") :].strip(), validate=True).decode("iso-8859-1")
        except (binascii.Error, ValueError):
            return None, None  # FormatException: caught, the request stays anonymous
        if ":" not in decoded:
            return None, 500  # Substring(0, -1): ArgumentOutOfRangeException, not caught
        username, password = decoded.split(":", 1)
        status, _ = self.relay({"username": username, "password": password}, "password", uncaught_status=500)
        if status == 500:
            return None, 500
        return (username if status == 200 else None), None

    # -- the web app ---------------------------------------------------------------
    def _make_app(self):
        from flask import Flask, Response, redirect, request

        app = Flask(__name__)

        @app.before_request
        def outage():
            if self.down == "unavailable":
                return Response(b"Service Unavailable", status=503, mimetype="text/plain")
            return None

        @app.get("/")
        def root():
            return redirect("/login", code=302)

        @app.get("/login")
        def login():
            return Response(LOGIN_PAGE, mimetype="text/html", headers={"Cache-Control": "no-store"})

        @app.get("/orgs/<org>/ds/<ds>/mvt/<tile_hash>/<int:z>/<int:x>/<int:y>.pbf")
        def tile(org, ds, tile_hash, z, x, y):
            username, failure = self.basic_auth(request.headers.get("Authorization"))
            if failure is not None:
                return Response(
                    json.dumps({"error": "internal error"}), status=failure, mimetype="application/json"
                )
            if not (0 <= z <= 24 and x >= 0 and y >= 0):
                return Response(
                    json.dumps({"error": "Invalid tile coordinates"}), status=400, mimetype="application/json"
                )
            found = self.db.find(username)
            roles = list(found[1]["roles"]) if found is not None else []
            if username is None or "deactivated" in roles:
                return Response(
                    json.dumps({"error": "Authentication required"}),
                    status=401,
                    mimetype="application/json",
                    headers={"WWW-Authenticate": 'Basic realm="DroneDB"'},
                )
            return Response(
                f"tile {org}/{ds}/{tile_hash}/{z}/{x}/{y}".encode(),
                status=200,
                mimetype="application/vnd.mapbox-vector-tile",
            )

        @app.post("/users/authenticate")
        def authenticate():
            token = request.form.get("token", "")
            username = None
            if token.strip():
                status, body = self.relay({"token": token}, "token")
            else:
                username = request.form.get("username", "")
                password = request.form.get("password", "")
                if not username:
                    return Response(
                        json.dumps({"error": "Unauthorized", "noRetry": False}),
                        status=401,
                        mimetype="application/json",
                    )
                status, body = self.relay({"username": username, "password": password}, "password")
            if status == 200 and self.issue_tokens:
                # UsersManager.Authenticate: AuthenticateResponse(user, token, expires)
                found = self.db.find(username if username is not None else body.get("username"))
                assert found is not None  # the relay has just found or created it
                name, user = found
                body = {"username": name, **self.db.issue_token(user)}
            return Response(json.dumps(body), status=status, mimetype="application/json")

        add_bearer_routes(app, self.db)
        return app
