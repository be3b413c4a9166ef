"""Who is at the other end of a request, as far as the gateway can vouch for it.

The client address is the peer's, unless the peer is one of GATEWAY_TRUSTED_PROXIES: then the
X-Forwarded-For chain is read from the right, past every trusted hop, and the first address
that is not a trusted proxy is the client. A header from anyone else is ignored, so a client
cannot write someone else's address into the records. Nothing else (the public URL, cookies)
reads forwarding headers.
"""

from __future__ import annotations

import ipaddress

from flask import request

from gateway.http.appservices import services
from gateway.login.lastsignin import Client


def current_client() -> Client:
    """The current request's client address and user agent (bounded, see Client.of)."""
    return Client.of(client_address(), request.headers.get("User-Agent"))


def client_address() -> str | None:
    peer = request.remote_addr
    trusted = services().settings.trusted_proxies
    if not peer or not trusted or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in ",".join(request.headers.getlist("X-Forwarded-For")).split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not _trusted(hop, trusted):
            return hop if _is_address(hop) else peer
    return peer


def _trusted(address: str, networks) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
