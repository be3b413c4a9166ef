"""A stand-in for a DroneDB Registry and its Hub web client, for the tests of the
gateway's single sign-on and of the map-tile path (see ``docs/registry-contract.md``).

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
    Like the Registry's ``RemoteLoginManager``: form field ``token`` (non-
    blank) is relayed alone; else ``username`` + ``password``.  The relay is a
    server-side form POST to ``external_auth_url`` with ``Accept:
    application/json`` (``requests``, ``trust_env=False``, a timeout).  A 2xx
    answer must be a JSON object (else 500, like the Registry's uncaught
    Newtonsoft exception; on the token path also when ``username`` is not a
    string) and is answered 200 with that object; non-2xx is answered 401
    ``{"error": "Unauthorized"}``; a connection error or timeout is a 500 (the
    Registry's HttpClient exceptions are not caught either).  Every relay is
    recorded in :attr:`RegistryStub.calls`.

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
    relayed the credentials already, as in the Registry).

``GET /``
    Redirects to ``/login``.

Host names of ``external_auth_url`` that match ``host_map`` (default
``*.example.test``) are connected to on 127.0.0.1 with the original ``Host``
header, so the stub can relay to ``http://auth.example.test:PORT/...`` like a
Registry whose DNS knows that name.
"""

from __future__ import annotations

import atexit
import errno
import fnmatch
import json
import threading
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tests.support.servers import ServerStartError, free_port

__all__ = ["BackgroundWsgiServer", "RegistryStub", "read_login_page", "logout", "LOGIN_PAGE"]


LOGIN_PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Registry stub - login</title>
<style>
 body { font-family: sans-serif; margin: 2em; }
 dt { font-weight: bold; margin-top: .5em; }
 dd { font-family: monospace; white-space: pre-wrap; word-break: break-all; }
</style>
</head>
<body>
<h1>Registry stub (Hub login page)</h1>
<dl>
 <dt>status</dt><dd id="status">pending</dd>
 <dt>username</dt><dd id="username"></dd>
 <dt>roles</dt><dd id="roles"></dd>
 <dt>maxStorageMB</dt><dd id="quota"></dd>
 <dt>answer</dt><dd id="answer"></dd>
 <dt>token</dt><dd id="token" data-value=""></dd>
 <dt>logout URL</dt><dd id="logout-url" data-value=""></dd>
 <dt>document.cookie at load</dt><dd id="cookies-before"></dd>
</dl>
<button id="logout" type="button">Log out</button>
<dl>
 <dt>logout</dt><dd id="logged-out"></dd>
 <dt>document.cookie after logout</dt><dd id="cookies-after"></dd>
</dl>
<script>
"use strict";
function show(id, text) { document.getElementById(id).textContent = text; }

// The Hub's cookie parser (libs/utils.js getCookie), same behaviour:
// name = text before the first "=", value = text between the first and the
// second "=" (anything after a second "=" is lost); both trimmed and
// percent-decoded.  A pair without "=" (parts[1] undefined) or a malformed
// percent sequence throws, for every cookie on the page.
function hubGetCookie(name) {
  var jar = {};
  var pairs = document.cookie.split(";");
  for (var i = 0; i < pairs.length; i++) {
    var parts = pairs[i].split("=");
    jar[decodeURIComponent(parts[0].trim())] = decodeURIComponent(parts[1].trim());
  }
  return jar[name];
}

// libs/api/xauth.js: "<auth token>|<logout url>", split("|")[0] and [1].
function xAuthAvailable() { return !!hubGetCookie("xAuthToken"); }
function xAuthToken() { return xAuthAvailable() ? hubGetCookie("xAuthToken").split("|")[0] : ""; }
function xAuthLogoutUrl() { return xAuthAvailable() ? hubGetCookie("xAuthToken").split("|")[1] : ""; }

// JSON.parse keeping the source text of the top-level maxStorageMB
// (JSON.parse source text access), to tell 10240 from 10240.0.
function parseAnswer(text) {
  var sources = new Map();
  var obj = JSON.parse(text, function (key, value, context) {
    if (key === "maxStorageMB") {
      sources.set(this, context && context.source !== undefined ? context.source : JSON.stringify(value));
    }
    return value;
  });
  return { obj: obj, quotaSource: sources.get(obj) };
}

function renderAnswer(text) {
  show("answer", text);
  var parsed;
  try { parsed = parseAnswer(text); } catch (e) { show("username", ""); return; }
  var obj = parsed.obj;
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return;
  show("username", obj.username === undefined ? "" : String(obj.username));
  show("roles", JSON.stringify(obj.roles === undefined ? null : obj.roles));
  if (Object.prototype.hasOwnProperty.call(obj, "maxStorageMB")) {
    var q = obj.maxStorageMB;
    show("quota", parsed.quotaSource + " " + typeof q + " "
      + (Number.isInteger(q) ? "integer" : "non-integer"));
  } else {
    show("quota", "absent");
  }
}

async function xAuthLogin() {
  show("cookies-before", document.cookie);
  if (document.cookie === "") { show("status", "no-token"); return; }
  var token, logoutUrl;
  try {
    if (!xAuthAvailable()) { show("status", "no-token"); return; }
    token = xAuthToken();
    logoutUrl = xAuthLogoutUrl();
  } catch (e) {
    show("status", "cookie-error " + e.name + ": " + e.message);
    return;
  }
  var tokenEl = document.getElementById("token");
  tokenEl.textContent = token; tokenEl.dataset.value = token;
  var logoutEl = document.getElementById("logout-url");
  logoutEl.textContent = logoutUrl === undefined ? "" : logoutUrl;
  logoutEl.dataset.value = logoutUrl === undefined ? "" : logoutUrl;
  if (!token) { show("status", "no-token"); return; }
  try {
    var res = await fetch("/users/authenticate", {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: token }).toString(),
      credentials: "same-origin"
    });
    var text = await res.text();
    renderAnswer(text);
    show("status", res.ok ? "ok" : "denied " + res.status);
  } catch (e) {
    show("status", "error " + e.name + ": " + e.message);
  }
}

// libs/api/xauth.js xAuthLogout: a 1x1 iframe on the logout URL, wait for load.
function xAuthLogout() {
  return new Promise(function (resolve, reject) {
    var url = document.getElementById("logout-url").dataset.value;
    if (!url) { resolve("no-logout-url"); return; }
    var el = document.createElement("iframe");
    el.id = "logout-frame";
    el.src = url;
    el.onload = function () { resolve("logged out"); };
    el.onerror = function () { reject(new Error("iframe error")); };
    el.width = 1;
    el.height = 1;
    el.style.border = "0";
    document.body.append(el);
  });
}

document.getElementById("logout").addEventListener("click", function () {
  xAuthLogout().then(function (result) {
    show("logged-out", result);
    show("cookies-after", document.cookie);
  }, function (e) {
    show("logged-out", "error " + e.message);
    show("cookies-after", document.cookie);
  });
});

xAuthLogin();
</script>
</body>
</html>
"""


_live: set[Any] = set()
_live_lock = threading.Lock()


@atexit.register
def _stop_all_at_exit() -> None:
    with _live_lock:
        servers = list(_live)
    for server in servers:
        try:
            server.stop()
        except Exception:
            pass


class BackgroundWsgiServer:
    """A WSGI app served by werkzeug (threaded) on ``host``:<free port> in a
    daemon thread; ``port``, ``url``, ``stop()``.  Stopped at interpreter exit
    if still running."""

    def __init__(self, app, host: str = "127.0.0.1", name: str = "wsgi"):
        from werkzeug.serving import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            def log_request(self, *args, **kwargs):  # no access log on stderr
                pass

        last: OSError | None = None
        for _ in range(5):
            port = free_port()
            try:
                server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                last = exc
                continue
            break
        else:
            raise ServerStartError(f"{name}: no free port ({last})")
        server.daemon_threads = True
        self.host, self.port, self._server = host, port, server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"{name}-{port}", daemon=True
        )
        self._thread.start()
        with _live_lock:
            _live.add(self)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            self._thread.join(timeout=10)
        with _live_lock:
            _live.discard(self)


class RegistryStub:
    """A fake Registry + Hub login page relaying to ``external_auth_url``.

    ``calls`` is a snapshot list of the relayed calls, oldest first, each a dict:
    ``path`` (``"token"`` / ``"password"``), ``fields`` (what was sent to the
    gateway), ``status`` (gateway HTTP status, None on a connection error),
    ``body`` (gateway body text), ``json`` (the parsed body or None),
    ``error`` (connection error text or None), ``answered`` (the status the
    stub gave the browser).
    """

    def __init__(
        self,
        external_auth_url: str,
        *,
        host: str = "127.0.0.1",
        host_map: Iterable[str] = ("*.example.test",),
        timeout: float = 10.0,
    ):
        self.external_auth_url = external_auth_url
        self.host = host
        self.host_map = tuple(host_map)
        self.timeout = timeout
        self.port: int | None = None
        self._calls: list[dict[str, Any]] = []
        self._calls_lock = threading.Lock()
        self._server: BackgroundWsgiServer | None = None
        # username -> {"metadata": the last answer, "roles": [...]}, as the Registry's database
        # keeps them after each relayed login (roles read from here on every request).
        self.users: dict[str, dict[str, Any]] = {}
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
    ) -> RegistryStub:
        """A running stub on ``host``:<free port> relaying to ``external_auth_url``."""
        stub = cls(external_auth_url, host=host, host_map=host_map, timeout=timeout)
        stub._serve()
        return stub

    def _serve(self) -> None:
        self._server = BackgroundWsgiServer(self._make_app(), host=self.host, name="registry-stub")
        self.port = self._server.port

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
        """``http://<host>:<port>`` (the loopback address it listens on)."""
        return f"http://{self.host}:{self.port}"

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

    def wait_for_calls(self, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Block until at least ``count`` calls were recorded; return them."""
        deadline = time.monotonic() + timeout
        while True:
            calls = self.calls
            if len(calls) >= count:
                return calls
            if time.monotonic() >= deadline:
                raise TimeoutError(f"registry stub: {len(calls)} relayed calls, expected {count}")
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

    def relay(self, fields: dict[str, str], path: str) -> tuple[int, dict[str, Any]]:
        """Relay ``fields`` to the gateway like the Registry; return (status, JSON answer)."""
        import requests

        url, headers = self._target()
        headers["Accept"] = "application/json"
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
            session = getattr(self._http, "session", None)
            if session is None:
                session = self._http.session = requests.Session()
                session.trust_env = False
            res = session.post(url, data=fields, headers=headers, timeout=self.timeout, allow_redirects=False)
            call["status"], call["body"] = res.status_code, res.text
        except requests.RequestException as exc:
            call["error"] = f"{type(exc).__name__}: {exc}"
            answer = (500, {"error": "gateway unreachable", "detail": call["error"]})
        else:
            if 200 <= res.status_code < 300:
                try:
                    obj = json.loads(res.text)
                except ValueError:
                    obj = None
                call["json"] = obj
                if not isinstance(obj, dict):
                    answer = (500, {"error": "answer is not a JSON object"})
                elif path == "token" and not isinstance(obj.get("username"), str):
                    answer = (500, {"error": "answer has no string username"})
                else:
                    answer = (200, obj)
            else:
                try:
                    call["json"] = json.loads(res.text)
                except ValueError:
                    pass
                answer = (401, {"error": "Unauthorized"})
        call["answered"] = answer[0]
        self._record(call)
        if answer[0] == 200:
            self._sync_user(fields.get("username") or answer[1].get("username"), answer[1])
        return answer

    def _sync_user(self, username: str, answer: dict[str, Any]) -> None:
        """``UsersManager``: the whole answer becomes the metadata; ``roles``, when an array,
        replaces the roles (anything else leaves them as they were)."""
        with self._calls_lock:
            user = self.users.setdefault(username, {"metadata": {}, "roles": []})
            user["metadata"] = dict(answer)
            if isinstance(answer.get("roles"), list):
                user["roles"] = list(answer["roles"])

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
        status, _ = self.relay({"username": username, "password": password}, "password")
        return (username if status == 200 else None), None

    # -- the web app ---------------------------------------------------------------
    def _make_app(self):
        from flask import Flask, Response, redirect, request

        app = Flask(__name__)

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
            with self._calls_lock:
                roles = list(self.users.get(username, {}).get("roles", [])) if username else []
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
            if token.strip():
                status, body = self.relay({"token": token}, "token")
            else:
                username = request.form.get("username", "")
                password = request.form.get("password", "")
                if not username:
                    return Response(
                        json.dumps({"error": "Unauthorized"}), status=401, mimetype="application/json"
                    )
                status, body = self.relay({"username": username, "password": password}, "password")
            return Response(json.dumps(body), status=status, mimetype="application/json")

        return app


# -- helpers for Playwright pages (duck-typed; no import of playwright here) -------


_PAGE_FIELDS = ("status", "username", "roles", "quota", "answer", "cookies-before")


def read_login_page(page, timeout: float = 10.0) -> dict[str, str]:
    """Wait until the stub's login page (already loaded in ``page``) has
    finished (``#status`` no longer ``pending``) and return its fields:
    status, username, roles, quota, answer, cookies-before, token, logout-url."""
    page.wait_for_function(
        "() => { const s = document.getElementById('status'); return s && s.textContent !== 'pending'; }",
        timeout=timeout * 1000,
    )
    result = {name: page.locator(f"#{name}").text_content() or "" for name in _PAGE_FIELDS}
    result["token"] = page.locator("#token").get_attribute("data-value") or ""
    result["logout-url"] = page.locator("#logout-url").get_attribute("data-value") or ""
    return result


def logout(page, timeout: float = 10.0) -> dict[str, Any]:
    """Click ``#logout`` and wait for the iframe's ``load``; return
    ``logged-out``, ``cookies-after``, and of the logout frame: ``frame_url``
    and ``frame_text`` (its body text, or None when Chromium refused to frame
    it: then the frame shows a ``chrome-error://`` page)."""
    page.click("#logout")
    page.wait_for_function(
        "() => document.getElementById('logged-out').textContent !== ''",
        timeout=timeout * 1000,
    )
    result: dict[str, Any] = {
        "logged-out": page.locator("#logged-out").text_content() or "",
        "cookies-after": page.locator("#cookies-after").text_content() or "",
        "frame_url": None,
        "frame_text": None,
    }
    handle = page.query_selector("#logout-frame")
    frame = handle.content_frame() if handle is not None else None
    if frame is not None:
        result["frame_url"] = frame.url
        if not frame.url.startswith("chrome-error:"):
            try:
                result["frame_text"] = frame.evaluate("() => document.body ? document.body.innerText : ''")
            except Exception:
                result["frame_text"] = None
    return result
