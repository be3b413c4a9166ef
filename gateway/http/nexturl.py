"""Where a browser may go after signing in with a password: a path on the gateway itself, or
one of the exact URLs of :class:`gateway.sso.redirects.RedirectAllowlist` (the Registry's login
page and ``sso.allowed_next``). Never an open redirect.

A same-origin path must start with one ``/`` followed by anything but ``/`` or ``\\``, and
hold only printable ASCII without spaces or backslashes: browsers read ``//host`` and
``/\\host`` as another host, and drop tabs and newlines (``/\\t/host`` is ``//host`` to them).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from gateway.sso.redirects import RedirectAllowlist

MAX_NEXT_CHARS = 2048
_LOCAL_PATH = re.compile(r"/(?![/\\])[!-\[\]-~]*")  # printable ASCII, no space, no backslash


def safe_next(value: object, allowlist: RedirectAllowlist) -> str | None:
    """``value`` if a browser may be sent there after a login, else None."""
    if not isinstance(value, str) or not value or len(value) > MAX_NEXT_CHARS:
        return None
    if allowlist.allows(value):
        return value
    return value if _LOCAL_PATH.fullmatch(value) else None


def login_url(next_path: str | None = None) -> str:
    """The sign-in page's URL, asking it to come back to ``next_path`` afterwards."""
    if not next_path:
        return "/login"
    return "/login?next=" + quote(next_path, safe="/")
