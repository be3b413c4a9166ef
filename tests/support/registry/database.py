"""The Registry stand-in's database: accounts, roles, organizations, memberships, and the
Registry's own HS256 JWTs. Plain Python, thread-safe (one lock), no web framework.

Each behaviour names the Registry source it models (DroneDB/Registry, ``Registry.Web/``).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt

ADMIN_ROLE = "admin"  # Registry.Web.Identity/ApplicationDbContext.cs AdminRoleName
DEACTIVATED_ROLE = "deactivated"  # MagicStrings.DeactivatedRoleName, checked by AuthManager
# Startup.cs: options.User.AllowedUserNameCharacters, ASP.NET Identity's default alphabet.
IDENTITY_USERNAME = re.compile(r"[A-Za-z0-9\-._@+]+")
_VALID_SLUG = re.compile(r"^[a-z0-9_-]{1,128}$")  # Utilities: IsValidSlug (lower-case slug)


class RegistryFailure(Exception):
    """What ``Models/ControllerBaseEx.cs`` ``ExceptionResult`` turns into an answer:
    ``status`` 400 (BadRequestException and any other), 401 (UnauthorizedException, with
    ``noRetry``), 404 or 409; body ``{"error": message, "noRetry": bool}``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "noRetry": self.status == 401}


def bad_request(message: str) -> RegistryFailure:
    return RegistryFailure(400, message)


def unauthorized(message: str) -> RegistryFailure:
    return RegistryFailure(401, message)


@dataclass
class Organization:
    """``Data/Models/Organization.cs``: slug, name, description, owner (a user id), public
    flag; ``members`` maps user id -> ``OrganizationPermissions`` (0..3)."""

    slug: str
    name: str
    description: str = ""
    owner_id: str | None = None
    is_public: bool = False
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    members: dict[str, int] = field(default_factory=dict)

    def to_dto(self) -> dict[str, Any]:
        """``Models/DTO/OrganizationDto.cs`` (``owner`` is the owner's user id)."""
        return {
            "slug": self.slug,
            "name": self.name,
            "description": self.description,
            "creationDate": self.created.isoformat(),
            "owner": self.owner_id,
            "isPublic": self.is_public,
        }


@dataclass(frozen=True)
class Caller:
    """The holder of a valid Registry JWT: its account's name and record, both None when the
    account was deleted since the token was issued."""

    name: str | None
    user: dict[str, Any] | None

    @property
    def roles(self) -> list[str]:
        return list(self.user["roles"]) if self.user is not None else []

    @property
    def is_admin(self) -> bool:
        """``AuthManager.IsUserAdmin``: the account holds the ``admin`` role now."""
        return ADMIN_ROLE in self.roles

    @property
    def is_deactivated(self) -> bool:
        """``ResourceAccessControl.IsUserDeactivated``."""
        return DEACTIVATED_ROLE in self.roles


class RegistryDatabase:
    """Accounts and organizations, keyed as the Registry keys them.

    ``users`` maps the account's user name (the spelling of its first login) to a dict:
    ``id``, ``metadata`` (the last answer or admin write, whole), ``roles`` (a list),
    ``email`` (the account's own Email column, empty unless ``PUT /users/{name}`` set it),
    ``storage_used`` (bytes; tests set it with :meth:`set_storage_used`), ``created``.
    """

    def __init__(self, *, default_organizations: bool = True, token_lifetime_seconds: int = 7 * 86400):
        self.lock = threading.RLock()
        self.users: dict[str, dict[str, Any]] = {}
        self.organizations: dict[str, Organization] = {}
        self.default_organizations = default_organizations
        self.token_lifetime_seconds = token_lifetime_seconds
        self.secret = secrets.token_hex(32)

    # -- accounts ---------------------------------------------------------------------
    def find(self, name: str | None) -> tuple[str, dict[str, Any]] | None:
        """``UserManager.FindByNameAsync``: ASP.NET Identity compares upper-cased names
        (``UpperInvariantLookupNormalizer``), so ``Alice`` finds ``alice``, and so does the
        look-alike ``alıce`` (dotless i upper-cases to ``I``, in .NET as in Python)."""
        if not name:
            return None
        wanted = name.upper()
        with self.lock:
            for key, user in self.users.items():
                if key.upper() == wanted:
                    return key, user
        return None

    def find_by_id(self, user_id: str | None) -> tuple[str, dict[str, Any]] | None:
        """``UserManager.FindByIdAsync`` (what ``AuthManager.GetCurrentUser`` does with the
        JWT's name claim)."""
        with self.lock:
            for key, user in self.users.items():
                if user["id"] == user_id:
                    return key, user
        return None

    def login(self, name: str | None, answer: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        """``Services/Managers/UsersManager.cs`` ``Authenticate``: find the account or create
        it (``CreateUserInternal``, with its default organization,
        ``CreateUserDefaultOrganization``), replace the metadata by the whole answer, run
        ``SyncRoles``. Raises :class:`RegistryFailure` (400 at ``/users/authenticate``) where the
        Registry throws: no name (``FindByNameAsync(null)``), a name outside Identity's
        alphabet (creation fails, no account is made), a ``null`` answer (after the account and
        its organization were created: a half-made account)."""
        if name is None:
            raise bad_request("Value cannot be null. (Parameter 'userName')")
        with self.lock:
            found = self.find(name)
            if found is None:
                if not IDENTITY_USERNAME.fullmatch(name):
                    # Identity's UserValidator refuses it; CreateUserInternal throws.
                    raise bad_request("Error in creating user")
                user = {
                    "id": str(uuid.uuid4()),
                    "metadata": {},
                    "roles": [],
                    "email": "",
                    "storage_used": 0,
                    "created": datetime.now(UTC),
                }
                self.users[name] = user
                found = (name, user)
                if self.default_organizations:
                    slug = self._free_slug(name)
                    self.organizations[slug] = Organization(slug=slug, name=name, owner_id=user["id"])
            if answer is None:
                # user.Metadata.IsSameAs(null) dereferences the null: NullReferenceException.
                raise bad_request("Object reference not set to an instance of an object.")
            found[1]["metadata"] = dict(answer)
            self.sync_roles(found[1])
            return found

    @staticmethod
    def sync_roles(user: dict[str, Any]) -> None:
        """``UsersManager.SyncRoles``: ``roles`` in the metadata, when an array, replaces the
        account's roles (an empty array removes all); anything else leaves them untouched."""
        roles = user["metadata"].get("roles")
        if isinstance(roles, list):
            user["roles"] = [str(role) for role in roles]

    def set_storage_used(self, name: str, used_bytes: int) -> None:
        """For tests: the bytes the user's organizations occupy (``WebUtils.GetUserStorage``)."""
        with self.lock:
            found = self.find(name)
            if found is None:
                raise KeyError(name)
            found[1]["storage_used"] = used_bytes

    def _free_slug(self, name: str) -> str:
        """``WebUtils.GetFreeOrganizationSlug``: the name as a slug, suffixed while taken."""
        base = re.sub(r"[^a-z0-9_-]", "-", name.lower()) or "org"
        slug, n = base, 0
        while slug in self.organizations:
            n += 1
            slug = f"{base}-{n}"
        return slug

    # -- JWTs -------------------------------------------------------------------------------
    def issue_token(self, user: dict[str, Any]) -> dict[str, Any]:
        """``UsersManager.GenerateJwtToken``: HS256 with the ``Secret`` setting, carrying only
        the user id (``ClaimTypes.Name``, written as ``unique_name``) and the ``admin`` flag
        (``"True"``/``"False"``); valid ``TokenExpirationInDays``. The answer is
        ``Models/AuthenticateResponse.cs``: username, token, expires (Unix seconds)."""
        now = int(time.time())
        expires = now + self.token_lifetime_seconds
        claims = {
            "unique_name": user["id"],
            "admin": str(ADMIN_ROLE in user["roles"]),
            "nbf": now,
            "iat": now,
            "exp": expires,
        }
        return {"token": jwt.encode(claims, self.secret, algorithm="HS256"), "expires": expires}

    def rotate_secret(self) -> None:
        """For tests: a new signing secret, as after changing the Registry's ``Secret``:
        every token issued so far stops being accepted."""
        with self.lock:
            self.secret = secrets.token_hex(32)

    def bearer_user(self, header: str | None) -> Caller | None:
        """``Startup.cs`` ``AddJwtBearer`` (signature and lifetime checked, .NET's default
        five minutes of clock skew) then ``AuthManager.GetCurrentUser``: None when the token is
        missing or invalid (the caller is anonymous), else the :class:`Caller`, whose account
        may be gone. Roles are read from the account on every request, never from the token."""
        if not header or not header.startswith("Bearer "):
            return None
        try:
            claims = jwt.decode(
                header[len("Bearer ") :].strip(), self.secret, algorithms=["HS256"], leeway=300
            )
        except jwt.PyJWTError:
            return None
        found = self.find_by_id(claims.get("unique_name"))
        return Caller(None, None) if found is None else Caller(*found)

    # -- organizations -----------------------------------------------------------------
    def create_organization(self, owner_id: str, form: dict[str, str]) -> Organization:
        """``OrganizationsManager.AddNew`` (admin caller, owner = the caller)."""
        slug = form.get("slug") or ""
        if not slug or not form.get("name"):
            # [Required] on OrganizationDto.Slug/Name: model validation, 400.
            raise bad_request("The Slug field is required." if not slug else "The Name field is required.")
        if not _VALID_SLUG.match(slug):
            raise bad_request("Invalid organization orgSlug")
        with self.lock:
            if slug in self.organizations:
                raise RegistryFailure(409, "The organization already exists")
            org = Organization(
                slug=slug,
                name=form["name"],
                description=form.get("description") or "",
                owner_id=owner_id,
                is_public=(form.get("isPublic") or "").lower() == "true",
            )
            self.organizations[slug] = org
            return org

    def memberships(self, user: dict[str, Any]) -> list[dict[str, Any]]:
        """``UsersManager.GetUserOrganizations``: ``UserOrganizationMembershipDto`` for every
        organization the user owns or belongs to (``permissions`` null for the owner)."""
        result = []
        with self.lock:
            for org in self.organizations.values():
                owner = org.owner_id == user["id"]
                if owner or user["id"] in org.members:
                    result.append(
                        {
                            "slug": org.slug,
                            "name": org.name,
                            "description": org.description,
                            "isPublic": org.is_public,
                            "isOwner": owner,
                            "permissions": None if owner else org.members[user["id"]],
                        }
                    )
        return result
