"""The Hub's login page as the Registry stand-in serves it (``GET /login``; see
:mod:`tests.support.registry.standin`), and helpers that read it in a Playwright page."""

from __future__ import annotations

from typing import Any

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
    var kind = Number.isInteger(q) ? "integer" : "non-integer";
    show("quota", parsed.quotaSource + " " + typeof q + " " + kind);
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


# -- helpers for Playwright pages (duck-typed; no import of playwright here) -------


_PAGE_FIELDS = ("status", "username", "roles", "quota", "answer", "cookies-before")


def read_login_page(page, timeout: float = 30.0) -> dict[str, str]:
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


def logout(page, timeout: float = 30.0) -> dict[str, Any]:
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
