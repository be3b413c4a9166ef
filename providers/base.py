"""The value every provider produces and the capabilities a provider may offer.

Modelled on Dex's connector interfaces: small capability protocols and one Identity.
A password check ends in exactly one of three ways:

* an :class:`Identity` — the credentials are right;
* a :class:`Rejection` — no such user, wrong credentials, or (only once the password was
  proven right) a disabled account;
* :class:`ProviderUnavailable` raised — the backend could not be asked, so nobody can say
  whether the credentials are right. The gateway answers 503, never 401, and does not count
  it as a failed attempt.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable


class ProviderUnavailable(Exception):
    """The provider's backend (directory, IdP, database) could not be reached in time."""

    def __init__(self, provider_id: str, reason: str):
        super().__init__(f"{provider_id}: {reason}")
        self.provider_id = provider_id
        self.reason = reason


class Rejection(enum.Enum):
    """Why a provider refused a credential. Outside the gateway all but DISABLED look alike."""

    NO_SUCH_USER = "no_such_user"
    WRONG_CREDENTIALS = "wrong_credentials"
    DISABLED = "disabled"  # only returned after the credential itself was proven right


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Identity:
    """Who a provider says a person is.

    ``username`` is already canonical (the gateway's normalisation has been applied).
    ``subject`` is the provider's stable id for the person (LDAP entryUUID, OIDC sub, local id).
    ``groups`` are the names the mapping rules match against (an LDAP provider lists both short
    names and DNs). ``attributes`` holds further provider data the mapping may use or expose.
    ``overrides`` are per-user answer values the source asserts and that beat the rules: a local
    user's admin-set quota or extra roles, or a directory quota attribute.
    """

    provider: str
    subject: str
    username: str
    email: str | None = None
    display_name: str | None = None
    groups: tuple[str, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", tuple(self.groups))
        object.__setattr__(self, "attributes", _frozen(self.attributes))
        object.__setattr__(self, "overrides", _frozen(self.overrides))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot, the form stored with SSO sessions."""
        return {
            "provider": self.provider,
            "subject": self.subject,
            "username": self.username,
            "email": self.email,
            "display_name": self.display_name,
            "groups": list(self.groups),
            "attributes": dict(self.attributes),
            "overrides": dict(self.overrides),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Identity:
        """Inverse of :meth:`to_dict`."""
        return cls(
            provider=data["provider"],
            subject=data["subject"],
            username=data["username"],
            email=data.get("email"),
            display_name=data.get("display_name"),
            groups=tuple(data.get("groups") or ()),
            attributes=data.get("attributes") or {},
            overrides=data.get("overrides") or {},
        )


@runtime_checkable
class PasswordProvider(Protocol):
    """Checks a username and password. ``username`` is canonical; ``password`` is non-empty."""

    id: str

    def check_password(self, username: str, password: str) -> Identity | Rejection:
        """Return the identity, or why not. Raise ProviderUnavailable on backend failure."""


@runtime_checkable
class IdentityLookup(Protocol):
    """Looks a known user up without credentials, to refresh a stored identity snapshot."""

    id: str

    def lookup(self, username: str) -> Identity | Rejection:
        """Return the current identity, NO_SUCH_USER, or DISABLED. May raise ProviderUnavailable."""


@runtime_checkable
class TokenProvider(Protocol):
    """Turns a token issued by someone else (an IdP) into an identity."""

    id: str

    def identity_from_token(self, token: str) -> Identity | Rejection:
        """Return the identity the token proves, or WRONG_CREDENTIALS for a bad token."""


@runtime_checkable
class CallbackProvider(Protocol):
    """Runs a browser redirect login (OIDC authorization code flow)."""

    id: str

    def start(self, redirect_uri: str) -> tuple[str, Mapping[str, Any]]:
        """Return the URL to send the browser to and the transaction state to keep for it."""

    def finish(
        self, redirect_uri: str, params: Mapping[str, str], transaction: Mapping[str, Any]
    ) -> Identity | Rejection:
        """Validate the callback against the kept transaction and return the identity."""
