"""Tokens issued by an identity provider, presented on the token path.

The gateway's own tokens are recognised by their header ``typ`` (``xauth+jwt``) and never reach
this module. Any other JWT goes to the one configured OIDC provider whose issuer equals the
token's (unverified) ``iss`` and that accepts JWTs; that provider then verifies everything. A
token that is not a JWT is opaque and goes to the one provider configured for introspection.
Tokens are routed by what they say they are, never by trying keys until one fits. Providers
take part through the :class:`~providers.base.TokenProvider` capability.
"""

from __future__ import annotations

from collections.abc import Iterable

from providers.base import Identity, LoginRejected, TokenProvider
from providers.jws import unverified_segment


class IdpTokens:
    def __init__(self, providers: Iterable[object]):
        self.replace_providers(providers)

    def replace_providers(self, providers: Iterable[object]) -> None:
        """Route tokens to ``providers`` from now on (an admin changed the provider set)."""
        verifiers = [p for p in providers if isinstance(p, TokenProvider)]
        self._by_issuer = {p.issuer: p for p in verifiers if p.accepts_jwt_tokens()}
        introspecting = [p for p in verifiers if p.introspects_opaque_tokens()]
        # Config validation allows at most one: an opaque token says nothing about its issuer,
        # and sending it to several IdPs would hand one IdP's tokens to another.
        self._introspector = introspecting[0] if introspecting else None

    @property
    def enabled(self) -> bool:
        return bool(self._by_issuer) or self._introspector is not None

    def identity(self, token: str) -> Identity:
        """The identity an IdP token proves. Raises LoginRejected (401) when no provider takes
        this token or it does not verify; ProviderUnavailable when the IdP cannot be asked."""
        if token.count(".") == 2:
            issuer = _unverified_issuer(token)
            provider = self._by_issuer.get(issuer) if issuer is not None else None
        else:
            provider = self._introspector
        if provider is None:
            raise LoginRejected("no_provider_for_token")
        return provider.identity_from_token(token)


def _unverified_issuer(token: str) -> str | None:
    """The ``iss`` claim of a JWT's payload, read without verification, only for routing
    (None unless header and payload are JSON objects the bounded parser accepts)."""
    header, payload = token.split(".")[:2]
    claims = unverified_segment(payload) if unverified_segment(header) is not None else None
    if claims is None:
        return None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None
