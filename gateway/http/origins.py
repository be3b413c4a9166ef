"""Which browser origins count as the gateway's own, for the forms' cross-site check.

A form posted from another origin than the public URL's is refused (CSRF defence). The one
allowance: when the public URL is a loopback address (``localhost``, ``127.0.0.1``, ``[::1]``),
the other loopback names with the same scheme and port are the same gateway on the same
machine, so the container's default ``http://localhost:8080`` also works at
``http://127.0.0.1:8080``. No other origin is ever accepted.

A refused form gets a page that explains only when it was posted from a page the gateway itself
served under another address (the browser says ``Sec-Fetch-Site: same-origin``; without that
header, the origin's host is the request's ``Host``): a person who opened the gateway by the
wrong name. A form posted from another site is a forgery and gets the plain refusal, so its
victim never reads advice naming the forger's address.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from gateway.config.sections import origin_of

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def origin_accepted(origin: str | None, public_url: str) -> bool:
    """Whether a request whose browser sent ``origin`` (None: sent none) may post to the
    gateway at ``public_url``."""
    if origin is None:
        return True
    origin = origin.lower()
    public = origin_of(public_url)
    if origin == public:
        return True
    return _loopback_key(origin) is not None and _loopback_key(origin) == _loopback_key(public)


def readable_origin(origin: str | None) -> str | None:
    """``origin`` when it is an http(s) address worth naming to a person, else None (absent,
    ``null`` from a sandboxed frame, or junk)."""
    if not origin or len(origin) > 300 or not origin.isascii():
        return None
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return origin_of(origin)


def opened_by_another_name(origin: str, host_header: str | None, fetch_site: str | None) -> bool:
    """Whether a post from ``origin`` came from a page served by this gateway itself (at the
    address the browser used), rather than from another site."""
    if fetch_site is not None:
        return fetch_site.lower() == "same-origin"
    try:
        origin_host = urlsplit(origin).hostname
        request_host = urlsplit(f"//{host_header}").hostname if host_header else None
    except ValueError:
        return False
    return origin_host is not None and origin_host == request_host


def _loopback_key(origin: str) -> tuple[str, int | None] | None:
    """(scheme, port) of a loopback origin, None for any other."""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    if parts.hostname not in LOOPBACK_HOSTS:
        return None
    return parts.scheme, port or {"http": 80, "https": 443}.get(parts.scheme)
