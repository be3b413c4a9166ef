"""``/admin/api/users``: the Registry's user API, given back to admins at the gateway.

Same paths and shapes as the Registry's (``POST /users``, ``GET /users``, ``GET /users/detailed``,
``PUT|DELETE /users/{name}``, ``PUT /users/{name}/changepwd``, ``POST /users/changepwd``,
``GET|POST /users/{name}/meta``), under the admin prefix. Lists take ``filter`` (substring of
username, email or display name), ``provider``, ``sort`` (``userName``, ``createdAt``,
``lastLoginAt``; ``-`` prefix for descending), ``offset`` and ``limit``, and say the total
before paging in ``X-Total-Count``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import request

from gateway.admin.activity import SignIn, UserFigures
from gateway.admin.errors import AdminError
from gateway.admin.people import Person
from gateway.admin.timefmt import aware, iso
from gateway.admin.users import UNSET, AdminUsers
from gateway.http.adminapi import schemas, schemas_more
from gateway.http.adminapi.base import (
    admin_only,
    body,
    bp,
    doc,
    json_object,
    ok,
    principal,
    require_admin,
    services,
    signed_in,
)
from gateway.http.adminapi.queryargs import bool_arg, int_arg
from gateway.storage.registrystate import RegistryStorage

SORT_KEYS = ("userName", "createdAt", "lastLoginAt")
MAX_LIMIT = 1000
LIST_QUERY: dict[str, dict[str, Any]] = {
    "filter": {"type": "string", "maxLength": 200},
    "provider": {"type": "string", "maxLength": 64},
    "sort": {"type": "string", "enum": [*SORT_KEYS, *(f"-{k}" for k in SORT_KEYS)]},
    "offset": {"type": "integer", "minimum": 0},
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
}


def _admin_users() -> AdminUsers:
    return services().admin_users()


@bp.get("/users")
@doc(
    "List users (the Registry's shape, effective roles)",
    response_schema=schemas.User,
    many=True,
    query=LIST_QUERY,
)
@admin_only
def list_users():
    users = _admin_users()
    people, total = _page(users)
    return _listed([_summary(users, person) for person in people], total)


@bp.get("/users/detailed")
@doc(
    "List users with provider, groups, quota, sessions and app passwords",
    response_schema=schemas.UserDetail,
    many=True,
    query=LIST_QUERY,
)
@admin_only
def list_users_detailed():
    users = _admin_users()
    people, total = _page(users)
    names = [p.username for p in people]
    storage = users.storage(names)
    activity = services().activity()
    figures, sign_ins = activity.figures(names), activity.of_users(names)
    return _listed([detail(users, person, storage, figures, sign_ins) for person in people], total)


@bp.post("/users/bulk")
@doc(
    "Disable, enable, delete or add to a group several users: each through the one-user "
    "operation, not atomic; a result per user (yourself is always refused)",
    request_schema=schemas_more.BulkRequest,
    response_schema=schemas_more.BulkResults,
    responses={404: "no such group"},
)
@admin_only
def bulk_users():
    data = body(schemas_more.BulkRequest())
    results = (
        services().bulk_users().apply(principal().username, data["action"], data["userNames"], data["group"])
    )
    done = sum(1 for result in results if result.ok)
    return ok(
        {
            "action": data["action"],
            "done": done,
            "refused": len(results) - done,
            "results": [result.record() for result in results],
        }
    )


@bp.post("/users")
@doc(
    "Create a local user",
    request_schema=schemas.UserCreate,
    response_schema=schemas.UserDetail,
    status=201,
    responses={409: "the name is taken"},
)
@admin_only
def create_user():
    data = body(schemas.UserCreate())
    metadata = data["metadata"]
    if data["maxStorageMB"] is not None:
        if metadata and "maxStorageMB" in metadata:
            raise AdminError(400, "maxStorageMB: give it once, not also in metadata", "maxStorageMB")
        metadata = {**(metadata or {}), "maxStorageMB": data["maxStorageMB"]}
    users = _admin_users()
    person = users.create(
        principal().username,
        data["userName"],
        data["password"],
        email=data["email"],
        display_name=data["displayName"],
        roles=data["roles"],
        groups=data["groups"],
        metadata=metadata,
        temporary=data["mustChangePassword"],
    )
    return ok(detail(users, person), 201)


@bp.get("/users/<username>")
@doc("One user in detail", response_schema=schemas.UserDetail, responses={404: "no such user"})
@admin_only
def get_user(username: str):
    users = _admin_users()
    return ok(detail(users, users.require(username)))


@bp.put("/users/<username>")
@doc(
    "Change a user (directory users: only enabled)",
    request_schema=schemas.UserUpdate,
    response_schema=schemas.UserDetail,
    responses={404: "no such user", 409: "refused"},
)
@admin_only
def update_user(username: str):
    data = body(schemas.UserUpdate(), partial=True)
    users = _admin_users()
    person = users.update(
        principal().username,
        username,
        email=data.get("email", UNSET),
        display_name=data.get("displayName", UNSET),
        roles=data.get("roles", UNSET),
        groups=data.get("groups", UNSET),
        enabled=data.get("enabled", UNSET),
    )
    return ok(detail(users, person))


@bp.delete("/users/<username>")
@doc(
    "Delete a user: sessions, tokens and app passwords are revoked first",
    status=204,
    responses={404: "no such user", 409: "refused"},
)
@admin_only
def delete_user(username: str):
    _admin_users().delete(principal().username, username)
    return "", 204


@bp.get("/users/<username>/factors")
@doc(
    "A user's second factors (type, name, created, last used; never a secret)",
    response_schema=schemas.FactorList,
    responses={404: "no such user"},
)
@admin_only
def list_factors(username: str):
    _admin_users().require(username)
    factors = services().user_operations().factors(username)
    return ok({"factors": [_factor(f) for f in factors]})


@bp.delete("/users/<username>/factors")
@doc(
    "Reset a user's two-step sign-in: remove every second factor and recovery code (audited)",
    response_schema=schemas.FactorReset,
    responses={404: "no such user"},
)
@admin_only
def reset_factors(username: str):
    _admin_users().require(username)
    removed = services().user_operations().reset_factors(username, actor=principal().username)
    return ok({"removed": removed})


def _factor(factor) -> dict[str, Any]:
    return {
        "id": factor.id,
        "type": factor.kind,
        "name": factor.name,
        "created": factor.created_at.isoformat(),
        "lastUsed": factor.last_used_at.isoformat() if factor.last_used_at else None,
    }


@bp.put("/users/<username>/changepwd")
@doc(
    "Set a local user's password",
    request_schema=schemas.AdminPassword,
    status=204,
    responses={404: "no such user", 409: "managed by a directory or IdP"},
)
@admin_only
def reset_password(username: str):
    data = body(schemas.AdminPassword())
    _admin_users().reset_password(
        principal().username, username, data["newPassword"], temporary=data["mustChangePassword"]
    )
    return "", 204


@bp.post("/users/changepwd")
@doc(
    "Change your own password",
    request_schema=schemas.OwnPassword,
    status=204,
    admin=False,
    responses={409: "the password is managed by an identity provider", 429: "throttled"},
)
@signed_in
def change_own_password():
    data = body(schemas.OwnPassword())
    caller = principal()
    _admin_users().change_own_password(
        caller.username, data["currentPassword"], data["newPassword"], keep_session=caller.session_id
    )
    return "", 204


@bp.get("/users/<username>/meta")
@doc(
    "A user's per-user answer values (e.g. maxStorageMB)",
    response_schema=schemas.Metadata,
    admin=False,
    responses={404: "no such user"},
)
@signed_in
def get_metadata(username: str):
    if principal().username != username:
        require_admin()
    return ok(_admin_users().metadata(username))


@bp.post("/users/<username>/meta")
@doc(
    "Replace a user's per-user answer values",
    request_schema=schemas.Metadata,
    response_schema=schemas.Metadata,
    query={"confirmQuotaShrink": {"type": "boolean"}},
    responses={
        404: "no such user",
        409: "managed by a directory or IdP, the last admin, or a quota below the user's storage "
        "(send ?confirmQuotaShrink=true to save anyway)",
    },
)
@admin_only
def set_metadata(username: str):
    return ok(
        _admin_users().set_metadata(
            principal().username,
            username,
            json_object(),
            confirm_quota_shrink=bool_arg("confirmQuotaShrink"),
        )
    )


# -- shapes ----------------------------------------------------------------------------------


def _summary(users: AdminUsers, person: Person) -> dict[str, Any]:
    evaluation = users.people.evaluation(person)
    return {
        "userName": person.username,
        "email": person.identity.email if person.identity else None,
        "roles": list(evaluation.roles) if evaluation and not evaluation.denied else [],
    }


def detail(
    users: AdminUsers,
    person: Person,
    storage: dict[str, RegistryStorage] | None = None,
    counts: dict[str, UserFigures] | None = None,
    sign_ins: dict[str, list[SignIn]] | None = None,
) -> dict[str, Any]:
    """Everything an admin wants to see about one user. ``storage``, ``counts`` and
    ``sign_ins``: read for a whole page at once by a list (for this person when None)."""
    evaluation = users.people.evaluation(person)
    identity = person.identity
    activity = services().activity()
    if storage is None:
        storage = users.storage([person.username])
    if counts is None:
        counts = activity.figures([person.username])
    if sign_ins is None:
        sign_ins = activity.of_users([person.username])
    figures = storage.get(person.username)
    own = counts.get(person.username, UserFigures())
    return {
        **_summary(users, person),
        "storageUsedBytes": figures.used_bytes if figures else None,
        "storageFetchedAt": iso(figures.fetched_at) if figures else None,
        "displayName": identity.display_name if identity else None,
        "provider": person.provider,
        "readOnly": person.read_only,
        "enabled": person.enabled,
        "groups": list(identity.groups) if identity else [],
        "maxStorageMB": evaluation.max_storage_mb if evaluation else None,
        "denied": bool(evaluation and evaluation.denied),
        "createdAt": iso(person.created_at),
        "lastLoginAt": iso(person.last_login_at),
        **own.record(),
        "lastSignIns": [sign_in.record() for sign_in in sign_ins.get(person.username, [])],
        "metadata": users.metadata(person.username) if person.local else {},
        "mustChangePassword": bool(person.local and person.local.must_change_password),
        "registrationState": person.local.registration_state if person.local else None,
    }


def _page(users: AdminUsers) -> tuple[list[Person], int]:
    args = request.args
    needle = args.get("filter", "")[:200].casefold()
    provider = args.get("provider")
    sort = args.get("sort", "userName")
    if sort.lstrip("-") not in SORT_KEYS:
        raise AdminError(400, f"sort must be one of {', '.join(SORT_KEYS)} (- for descending)", "sort")
    offset = int_arg("offset", 0, 0, 10**9)
    limit = int_arg("limit", 100, 1, MAX_LIMIT)
    people = [
        p for p in users.people.all() if (provider is None or p.provider == provider) and _matches(p, needle)
    ]
    key = sort.lstrip("-")
    floor = datetime.min.replace(tzinfo=UTC)
    sort_value = {
        "userName": lambda p: p.username,
        "createdAt": lambda p: (_when(p.created_at, floor), p.username),
        "lastLoginAt": lambda p: (_when(p.last_login_at, floor), p.username),
    }[key]
    people.sort(key=sort_value, reverse=sort.startswith("-"))
    return people[offset : offset + limit], len(people)


def _when(value: datetime | None, missing: datetime) -> datetime:
    return missing if value is None else aware(value)


def _matches(person: Person, needle: str) -> bool:
    if not needle:
        return True
    identity = person.identity
    texts = [
        person.username,
        identity.email if identity else None,
        identity.display_name if identity else None,
    ]
    return any(needle in text.casefold() for text in texts if text)


def _listed(items: list[dict[str, Any]], total: int):
    response = ok(items)
    response.headers["X-Total-Count"] = str(total)
    return response
