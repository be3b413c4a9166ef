"""The value every provider produces and the capabilities a provider may offer.

Modelled on Dex's connector interfaces: small capability protocols and one Identity.
Each capability is a small protocol a provider class offers or not; the gateway asks for a
capability (``isinstance(provider, HealthCheck)``), never for a provider class, and
``tests/unit/providers/test_conformance.py`` holds every catalogued type to the ones it
declares. A password check ends in exactly one of three ways:

* an :class:`Identity` — the credentials are right;
* a :class:`Rejection` — no such user, wrong credentials, or (only once the password was
  proven right) a disabled account;
* :class:`ProviderUnavailable` raised — the backend could not be asked, so nobody can say
  whether the credentials are right. The gateway answers 503, never 401, and does not count
  it as a failed attempt.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable


class ProviderUnavailable(Exception):
    """The provider's backend (directory, IdP, database) could not be reached in time."""

    def __init__(self, provider_id: str, reason: str):
        super().__init__(f"{provider_id}: {reason}")
        self.provider_id = provider_id
        self.reason = reason


# The longest bearer token the gateway reads at all (IdP tokens with many group claims pass
# 8 KiB); anything longer is refused before any provider sees it.
MAX_TOKEN_LENGTH = 16384


class LoginRejected(Exception):
    """A browser login or a bearer token a provider refused, with why.

    ``reason`` is a short class for logs and audit (``bad_state``, ``bad_audience``,
    ``expired``, ...). ``status`` is 401, or 403 when the person was proven but is not allowed
    in. Raised by :class:`CallbackProvider` and :class:`TokenProvider`, where a refusal has
    more to say than a :class:`Rejection`.
    """

    def __init__(self, reason: str, status: int = 401):
        super().__init__(reason)
        self.reason = reason
        self.status = status


class Rejection(enum.Enum):
    """Why a provider refused a credential. Outside the gateway all but DISABLED look alike."""

    NO_SUCH_USER = "no_such_user"
    WRONG_CREDENTIALS = "wrong_credentials"
    DISABLED = "disabled"  # only returned after the credential itself was proven right


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


# ``Identity.attributes`` key set (True) for an account whose password an admin set as
# temporary: it must be changed at the next browser sign-in and opens nothing else until then.
MUST_CHANGE_PASSWORD = "must_change_password"


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
    """Turns a token issued by someone else (an IdP) into an identity.

    Tokens are routed, never tried on every provider: a JWT goes to the one provider whose
    ``issuer`` is the token's and that :meth:`accepts_jwt_tokens`; an opaque token to the one
    that :meth:`introspects_opaque_tokens` (configuration allows at most one of each)."""

    id: str

    @property
    def issuer(self) -> str:
        """The issuer (``iss``) of the tokens this provider verifies."""

    def accepts_jwt_tokens(self) -> bool:
        """Whether some JWT of :attr:`issuer` may be accepted."""

    def introspects_opaque_tokens(self) -> bool:
        """Whether tokens that are not JWTs are introspected here."""

    def identity_from_token(self, token: str) -> Identity:
        """Return the identity the token proves; raise LoginRejected for a token it does not
        prove anything with, ProviderUnavailable when the IdP cannot be asked."""


@dataclass(frozen=True)
class FinishedLogin:
    """What a browser login's callback proved: the identity, and the raw ID token it was
    verified from (for ``id_token_hint`` at the IdP's logout; a secret, never logged)."""

    identity: Identity
    id_token: str = field(repr=False)
    # The IdP's session id (the ID token's ``sid``), which a back-channel logout may name.
    idp_session: str | None = None


@dataclass(frozen=True)
class SignInButton:
    """How the landing page offers a browser login: the provider's name, the button's text,
    and its logo (an https URL, or None)."""

    name: str
    label: str
    logo_url: str | None


@runtime_checkable
class CallbackProvider(Protocol):
    """Runs a browser redirect login (OIDC authorization code flow) and its sign-out."""

    id: str

    @property
    def display_name(self) -> str:
        """What pages call this provider."""

    @property
    def sign_in_button(self) -> SignInButton | None:
        """Its landing page button; None when browsers do not sign in here (token path only)."""

    def start(self, redirect_uri: str) -> tuple[str, Mapping[str, Any]]:
        """Return the URL to send the browser to and the transaction state to keep for it.
        May raise ProviderUnavailable."""

    def finish(
        self, redirect_uri: str, params: Mapping[str, str], transaction: Mapping[str, Any]
    ) -> FinishedLogin:
        """Validate the callback against the kept transaction and return what it proved.
        Raise LoginRejected when it proves nothing, ProviderUnavailable on an outage."""

    def end_session_url(
        self, post_logout_redirect_uri: str | None, id_token_hint: str | None = None
    ) -> str | None:
        """Where a sign-out continues at the IdP, if anywhere. Never raises."""


@dataclass(frozen=True)
class HealthReport:
    """How a provider's backend is doing: ``detail`` says what was seen (a server list, a
    user count) or why it is not healthy."""

    healthy: bool
    detail: str


@runtime_checkable
class HealthCheck(Protocol):
    """Asks the provider's backend whether it answers, bounded by the provider's own timeouts."""

    id: str

    def check_health(self) -> HealthReport:
        """The backend's state now. May raise ProviderUnavailable or a database error, which
        the caller reports as unhealthy."""


@runtime_checkable
class Closable(Protocol):
    """Holds resources (pooled connections, HTTP sessions) that ``close`` releases."""

    def close(self) -> None:
        """Release them; the provider is not used afterwards."""


# A trial login's narrator: ``note(step, detail)``, such as ``("bind", "as uid=ann,...")``.
Note = Callable[[str, str], None]


@runtime_checkable
class TrialLogin(Protocol):
    """Checks a password while narrating each step, for an admin's trial login (``gateway ldap
    test`` and the admin API's test-login). Records nothing and never narrates the password."""

    id: str

    def trial_check(
        self, username: str, password: str, note: Note, *, exclusive_logs: bool = False
    ) -> Identity | Rejection:
        """Like ``check_password``, telling ``note`` every step and this thread's log records
        of the provider (with ``exclusive_logs``, only ``note``). May raise ProviderUnavailable."""


class DirectoryEntry(Protocol):
    """One user entry of a directory listing, as a login with its username would see it.

    ``identity`` is what a login would answer (built even when the account is refused);
    ``disabled`` says why a login would refuse it (None: it may log in). ``problem`` is set,
    and ``identity`` None, when the entry cannot be a login's answer: such a user is to be left
    as it is, neither updated nor taken for a leaver."""

    @property
    def username(self) -> str | None: ...
    @property
    def disabled(self) -> str | None: ...
    @property
    def identity(self) -> Identity | None: ...
    @property
    def problem(self) -> str | None: ...


class DirectoryRead(Protocol):
    """One complete read of a directory's users."""

    def users(self) -> Iterator[DirectoryEntry]:
        """Every user entry, streamed. Raises ProviderUnavailable (from the iterator, possibly
        after some entries) when the read could not be completed: then nothing yielded may be
        taken as a complete listing."""


@runtime_checkable
class DirectoryListing(Protocol):
    """Lists every user of the backend in bulk (an LDAP/AD directory), for the periodic sync."""

    id: str

    def directory_reader(self) -> DirectoryRead:
        """A reader for one complete listing. May raise ValueError when the provider's
        configuration cannot be read in bulk."""


@dataclass(frozen=True)
class LogoutNotice:
    """What a verified back-channel logout token says: the IdP session that ended (``sid``),
    or every session of a subject (``sub``), or that session of that subject. ``token_id``
    (the token's ``jti``) is single-use until ``expires_at`` (Unix time)."""

    subject: str | None
    idp_session: str | None
    token_id: str
    expires_at: float


@dataclass(frozen=True)
class LogoutPolicy:
    """What a back-channel logout of this provider ends besides the gateway sessions it names:
    the user's Registry access (``deactivate``), their app passwords and API keys."""

    deactivate: bool = False
    revoke_app_passwords: bool = False


@runtime_checkable
class BackchannelLogoutReceiver(Protocol):
    """Receives an IdP's back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0)."""

    id: str

    @property
    def logout_policy(self) -> LogoutPolicy | None:
        """What a logout ends; None when back-channel logout is not enabled for it."""

    def verify_logout_token(self, token: str) -> LogoutNotice:
        """The notice a logout token carries, verified; LoginRejected (with the reason) for a
        token that is not one, ProviderUnavailable when the IdP's keys cannot be had."""


@runtime_checkable
class GroupDirectory(Protocol):
    """Knows which groups exist (an LDAP/AD directory), so that a rule or a user naming a
    group nobody has can be told apart from a misspelling."""

    id: str

    def group_exists(self, name: str) -> bool:
        """Whether the backend holds the group ``name`` (a short name or a DN). May raise
        ProviderUnavailable."""


# Every capability a provider type may declare (``ProviderType.capabilities``); each type
# declares HealthCheck and Closable at least.
CAPABILITIES: tuple[type, ...] = (
    PasswordProvider,
    IdentityLookup,
    TokenProvider,
    CallbackProvider,
    HealthCheck,
    Closable,
    TrialLogin,
    DirectoryListing,
    BackchannelLogoutReceiver,
    GroupDirectory,
)
