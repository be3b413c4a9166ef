"""From verified claims to an Identity: pure functions, no I/O.

The claims come from a verified ID token (merged with userinfo), a verified JWT access token,
or an introspection response; which of them is trusted is the provider's business.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from providers.base import Identity, LoginRejected
from providers.oidc.settings import ClaimPath, OidcSettings

MAX_SUBJECT_LENGTH = 255
_MISSING = object()


class OidcRejected(LoginRejected):
    """A login or token refused (the OIDC provider's :class:`~providers.base.LoginRejected`).

    ``reason`` is a short class for logs (``bad_state``, ``nonce_mismatch``, ``bad_audience``,
    ``bad_signature``, ``expired``, ``alg_not_allowed``, ``email_not_verified``,
    ``bad_username``, ``idp_error``, ...). ``status`` is 401, or 403 when the person was
    proven but is not allowed in (``email_not_verified``, ``bad_username``).
    """


def subject_of(issuer: str, sub: str) -> str:
    """The Identity ``subject`` of the IdP's ``sub``: ``issuer|sub``, unique across IdPs."""
    return f"{issuer}|{sub}"


def claim_path(spec: ClaimPath) -> tuple[str, ...]:
    """The path segments of a claim: a string splits at its dots, a tuple is taken as is."""
    return tuple(spec.split(".")) if isinstance(spec, str) else tuple(spec)


def claim_value(claims: Mapping[str, Any], spec: ClaimPath) -> Any:
    """The value at ``spec`` in nested objects, or None when any step is missing."""
    value: Any = claims
    for segment in claim_path(spec):
        if not isinstance(value, Mapping):
            return None
        value = value.get(segment, _MISSING)
        if value is _MISSING:
            return None
    return value


def has_claim(claims: Mapping[str, Any], spec: ClaimPath) -> bool:
    """Whether ``spec`` leads to a value (other than null)."""
    return claim_value(claims, spec) is not None


def groups_from(value: Any) -> tuple[str, ...]:
    """A list gives its strings (others skipped), a string gives itself, anything else nothing."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()


def strip_domain(value: str, domains: tuple[str, ...]) -> str:
    """``local`` when ``value`` is ``local@domain`` (one ``@``, something before it) and
    ``domain`` is ASCII and, lower-cased, one of ``domains`` (lower case); ``value`` unchanged
    otherwise. ASCII only: ``str.lower`` folds look-alikes such as the Kelvin sign into ``k``,
    which an IdP that checks its domains byte for byte would let through."""
    local, at, domain = value.partition("@")
    if at and local and "@" not in domain and domain.isascii() and domain.lower() in domains:
        return local
    return value


def _exposed(value: Any) -> bool:
    return isinstance(value, (str, int, bool)) and not isinstance(value, float)


def identity_from_claims(
    provider_id: str,
    issuer: str,
    claims: Mapping[str, Any],
    settings: OidcSettings,
    canonical: Callable[[str], str | None],
) -> Identity:
    """The Identity these verified claims describe, or OidcRejected.

    ``subject`` is ``issuer|sub`` (``bad_subject`` if sub is not a non-empty string or the
    result exceeds 255 characters); the username is the canonical form of the username
    claim, after :func:`strip_domain` with ``username_strip_domains`` (``bad_username``, 403,
    when missing or without a canonical form); with
    ``require_email_verified`` the ``email_verified`` claim must be literally true.
    """
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise OidcRejected("bad_subject")
    subject = subject_of(issuer, sub)
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise OidcRejected("bad_subject")
    if settings.require_email_verified and claims.get("email_verified") is not True:
        raise OidcRejected("email_not_verified", 403)
    raw = claim_value(claims, settings.username_claim)
    username = canonical(strip_domain(raw, settings.username_strip_domains)) if isinstance(raw, str) else None
    if not username:
        raise OidcRejected("bad_username", 403)
    email, name = claims.get("email"), claims.get("name")
    groups = groups_from(claim_value(claims, settings.groups_claim)) if settings.groups_claim else ()
    attributes = {key: claims[key] for key in settings.expose_claims if _exposed(claims.get(key))}
    return Identity(
        provider=provider_id,
        subject=subject,
        username=username,
        email=email if isinstance(email, str) else None,
        display_name=name if isinstance(name, str) else None,
        groups=groups,
        attributes=attributes,
    )
