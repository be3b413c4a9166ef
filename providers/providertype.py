"""What a provider type declares to the catalog: the schema of its configuration section and
the factory that builds a provider from a validated section.

Each type's package defines one :class:`ProviderType` (``providers/<type>/factory.py``), and
``providers/catalog.py`` lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from marshmallow import Schema
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from providers.adminform import AdminForm
from providers.local.policy import PasswordPolicy

if TYPE_CHECKING:
    from providers.base import Identity
    from providers.local.users import LocalUsers


@dataclass(frozen=True)
class BuildContext:
    """What the gateway offers every factory: the username rule, its database, and the hooks
    a provider that keeps users in that database needs."""

    canonical: Callable[[str], str | None]
    engine: Engine
    sessions: sessionmaker[Session]
    password_policy: PasswordPolicy
    # Called inside the transaction of every change to a stored user (None: possibly several).
    on_change: Callable[[Session, str | None], None] | None = None


@dataclass(frozen=True)
class BuiltProvider:
    """A factory's result: the provider, and the user store it keeps in the gateway's
    database, if it keeps one (local users, managed by the admin API and CLI)."""

    provider: Any
    users: LocalUsers | None = None


Factory = Callable[[str, Mapping[str, Any], BuildContext], BuiltProvider]


@dataclass(frozen=True)
class TokenRouting:
    """Which IdP tokens a configured provider takes, so that configuration can refuse
    ambiguous routes: JWTs of ``jwt_issuer`` (None: no JWTs), and opaque tokens when it
    ``introspects``. ``jwt_key`` and ``introspection_key`` are the dotted keys of the section
    that say so, for the error that names them."""

    jwt_issuer: str | None = None
    introspects: bool = False
    jwt_key: str = ""
    introspection_key: str = ""


def _no_browser_login(options: Mapping[str, Any]) -> bool:
    return False


def _no_tokens(options: Mapping[str, Any]) -> TokenRouting:
    return TokenRouting()


# (provider id, validated options) -> a result dict
ConfigCheck = Callable[[str, Mapping[str, Any]], dict[str, Any]]
# (provider id, validated options, the username rule, username) -> a result dict
UserCheck = Callable[[str, Mapping[str, Any], Callable[[str], str | None], str], dict[str, Any]]
# ... -> the result dict and the identity a login would answer (None when there is none)
GroupsCheck = Callable[
    [str, Mapping[str, Any], Callable[[str], str | None], str], tuple[dict[str, Any], "Identity | None"]
]


@dataclass(frozen=True)
class Diagnostics:
    """What a provider type can check about a configuration (saved or not) for an admin.
    Each check takes validated options (without ``id`` and ``type``), is bounded by their
    timeouts, reports a backend's failure in its result rather than raising, and never
    reports a secret. ``connection`` reaches the backend; ``search`` finds a user without
    their password; ``groups`` lists that user's groups and how each was found;
    ``discovery`` fetches and checks an IdP's metadata. None: not offered by the type."""

    connection: ConfigCheck
    search: UserCheck | None = None
    groups: GroupsCheck | None = None
    discovery: ConfigCheck | None = None


@dataclass(frozen=True)
class ProviderType:
    """``name`` is the ``type:`` of a ``providers[n]`` section; ``schema`` validates the whole
    section (``id`` and ``type`` included); ``build(id, options, context)`` gets the
    validated options without ``id`` and ``type``. ``capabilities`` are exactly the
    protocols of :data:`providers.base.CAPABILITIES` its providers offer (the conformance
    test holds it to that).

    What configuration checks across providers, read from validated options (without ``id``
    and ``type``) before anything is built: ``browser_login(options)``, whether browsers sign
    in with such a provider (then browser sign-on must be set up); ``token_routing(options)``,
    which IdP tokens it takes (no two providers may take the same). ``diagnostics``: the
    checks an admin can run on such a configuration (:class:`Diagnostics`), if any.
    ``secret_fields``: the dotted keys of the section that are secrets, and
    ``secret_destination_fields`` the keys that decide where they go (see
    ``providers/<type>/config.py``)."""

    name: str
    schema: type[Schema]
    build: Factory
    capabilities: tuple[type, ...]
    browser_login: Callable[[Mapping[str, Any]], bool] = _no_browser_login
    token_routing: Callable[[Mapping[str, Any]], TokenRouting] = _no_tokens
    diagnostics: Diagnostics | None = None
    # The dotted keys of the section that hold secrets (a bind password, a client secret):
    # stored encrypted when the section is kept in the database, never shown back.
    secret_fields: tuple[str, ...] = ()
    # The dotted keys that decide where those secrets are sent (a server, an issuer) or how they
    # are protected on the way (TLS): a stored secret is never kept across a change to one of
    # them, so it cannot be sent to an address it was not entered for.
    secret_destination_fields: tuple[str, ...] = ()
    # The admin UI's guided form (providers/adminform.py); a type with one can be kept in the
    # database and added and edited by admins (the local type has none: it is the file's).
    admin_form: AdminForm | None = None
