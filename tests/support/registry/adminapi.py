"""The Registry stand-in's bearer-token endpoints: refresh, the caller's own metadata, and the
admin API of contract §2.6 (``Registry.Web/Controllers/UsersController.cs``,
``OrganizationsController.cs``, with the checks of ``Services/Managers/UsersManager.cs`` and
``OrganizationsManager.cs``, in the Registry's order).

Answers as the Registry gives them: a missing or invalid bearer token is a 401 with an empty
body and ``WWW-Authenticate: Bearer`` (``Startup.cs`` ``AddJwtBearer`` + ``[Authorize]``);
every failure inside a manager is ``{"error": ..., "noRetry": ...}`` with the status
``Models/ControllerBaseEx.cs`` ``ExceptionResult`` maps it to (see :class:`RegistryFailure`).
"""

from __future__ import annotations

from typing import Any

from tests.support.registry.database import (
    Caller,
    RegistryDatabase,
    RegistryFailure,
    bad_request,
    unauthorized,
)

DEFAULT_ADMIN = "admin"  # appsettings DefaultAdmin.UserName
MB = 1024 * 1024


def add_bearer_routes(app, db: RegistryDatabase) -> None:
    """Register the bearer-token endpoints on the Flask ``app``."""
    from flask import Response, jsonify, request

    class Anonymous(Exception):
        """No valid bearer token: the JwtBearer challenge."""

    @app.errorhandler(Anonymous)
    def challenge(_exc):
        return Response(b"", status=401, headers={"WWW-Authenticate": "Bearer"})

    @app.errorhandler(RegistryFailure)
    def failure(exc: RegistryFailure):
        return jsonify(exc.body()), exc.status

    def caller() -> Caller:
        found = db.bearer_user(request.headers.get("Authorization"))
        if found is None:
            raise Anonymous()
        return found

    def existing_caller() -> Caller:
        """``GetCurrentUser() == null`` -> 400 "User does not exist" (most UsersManager calls)."""
        current = caller()
        if current.user is None:
            raise bad_request("User does not exist")
        return current

    def target(name: str) -> tuple[str, dict[str, Any]]:
        found = db.find(name)
        if found is None:
            raise bad_request("Cannot find user " + name)
        return found

    def admin_target(name: str, not_admin: str) -> tuple[str, dict[str, Any]]:
        """The common prologue: the caller exists, is admin, the named user exists."""
        if not existing_caller().is_admin:
            raise unauthorized(not_admin)
        return target(name)

    def json_body(*required: str) -> dict[str, Any]:
        """``[FromBody, Required]``: a JSON object, with the DTO's ``[Required]`` fields."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise bad_request("A non-empty request body is required.")
        for key in required:
            if body.get(key) is None:
                raise bad_request(f"The {key[0].upper() + key[1:]} field is required.")
        return body

    def ok():
        return Response(b"", status=200)

    # -- the caller's own token and data ---------------------------------------------------
    @app.post("/users/authenticate/refresh")
    def refresh():
        """``UsersManager.Refresh``: refused (401) for a deleted or ``deactivated`` account
        (``AuthManager.CanRefreshToken``); never asks the gateway."""
        current = caller()
        if current.user is None or current.is_deactivated:
            raise unauthorized("User cannot refresh token")
        return jsonify({"username": current.name, **db.issue_token(current.user)})

    @app.get("/users/meta")
    def own_meta():
        """``UsersManager.GetUserMeta()``: the caller's metadata (not refused when deactivated)."""
        return jsonify(existing_caller().user["metadata"])

    @app.get("/users/roles")
    def roles():
        """``UsersManager.GetRoles``: every role name, for any authenticated caller."""
        caller()
        with db.lock:
            names = {role for user in db.users.values() for role in user["roles"]} | {"admin"}
        return jsonify(sorted(names))

    # -- users (admin) ------------------------------------------------------------------------
    @app.get("/users/<name>/meta")
    def user_meta(name):
        _, user = admin_target(name, "Cannot get other user's meta")
        return jsonify(user["metadata"])

    @app.post("/users/<name>/meta")
    def set_user_meta(name):
        """``UsersManager.SetUserMeta``: the whole metadata replaced, then ``SyncRoles``."""
        meta = json_body()
        with db.lock:
            _, user = admin_target(name, "Cannot change user data")
            user["metadata"] = meta
            db.sync_roles(user)
        return ok()

    @app.put("/users/<name>")
    def update_user(name):
        """``UpdateUser`` (email) then ``UpdateUserRoles`` (roles replaced); both fields are
        ``[Required]`` in ``EditUserRequestDto``."""
        body = json_body("email", "roles")
        if not str(body["email"]).strip():
            raise bad_request("Email cannot be empty")
        current = caller()
        with db.lock:
            if not current.is_admin and current.name != name:
                raise unauthorized("Only admins can update users")
            found = db.find(name)
            if found is None:
                raise bad_request("User does not exist")
            if not current.is_admin:
                raise unauthorized("User is not admin")
            roles = [str(role) for role in body["roles"] or []]
            if name.lower() == DEFAULT_ADMIN and "admin" not in [r.lower() for r in roles]:
                raise bad_request("Cannot remove admin role from admin user")
            found[1]["email"] = str(body["email"])
            found[1]["roles"] = roles
        return ok()

    @app.delete("/users/<name>")
    def delete_user(name):
        """``UsersManager.DeleteUser`` without a successor: the organizations the user owns are
        deleted (with their datasets), memberships removed, the account deleted."""
        current = caller()
        if not current.is_admin:
            raise unauthorized("Only admins can delete users")
        if name == DEFAULT_ADMIN:
            raise unauthorized("Cannot delete the default admin")
        with db.lock:
            found = db.find(name)
            if found is None:
                raise bad_request("User does not exist")
            key, user = found
            owned = [slug for slug, org in db.organizations.items() if org.owner_id == user["id"]]
            for slug in owned:
                del db.organizations[slug]
            for org in db.organizations.values():
                org.members.pop(user["id"], None)
            del db.users[key]
        return jsonify(
            {
                "userName": name,
                "successor": None,
                "batchesDeleted": 0,
                "organizationsDeleted": len(owned),
                "datasetsDeleted": 0,
                "datasetResults": [],
            }
        )

    @app.get("/users/detailed")
    def users_detailed():
        """``UsersManager.GetAllDetailed`` (``UserDetailDto``)."""
        if not caller().is_admin:
            raise unauthorized("User is not admin")
        with db.lock:
            rows = []
            for key, user in db.users.items():
                slugs = [m["slug"] for m in db.memberships(user)]
                rows.append(
                    {
                        "id": user["id"],
                        "userName": key,
                        "email": user["email"] or None,
                        "roles": list(user["roles"]),
                        "organizations": slugs,
                        "storageQuota": _quota_bytes(user),
                        "storageUsed": user["storage_used"],
                        "organizationCount": len(slugs),
                        "datasetCount": 0,
                        "createdDate": user["created"].isoformat(),
                    }
                )
        return jsonify(rows)

    @app.get("/users/<name>/storage")
    def user_storage(name):
        """``UsersManager.GetUserStorageInfo`` -> ``WebUtils.GetUserStorage``: ``total`` is
        ``maxStorageMB`` * 1 MiB only when the metadata holds an integer, else null."""
        _, user = admin_target(name, "Cannot get other user's storage info")
        return jsonify({"total": _quota_bytes(user), "used": user["storage_used"]})

    # -- a user's organizations (admin) ------------------------------------------------------
    @app.get("/users/<name>/orgs")
    def user_orgs(name):
        _, user = admin_target(name, "Cannot get other user's meta")
        return jsonify(db.memberships(user))

    @app.post("/users/<name>/orgs")
    def add_user_org(name):
        """``UsersManager.AddUserToOrganization`` (``permissions`` defaults to 1, ReadWrite)."""
        body = json_body()
        with db.lock:
            _, user = admin_target(name, "Only admins can manage user organizations")
            org = _organization(db, body.get("orgSlug"))
            if org.owner_id == user["id"]:
                raise bad_request("User is already the owner of this organization")
            if user["id"] in org.members:
                raise bad_request("User is already a member of this organization")
            org.members[user["id"]] = _permissions(body.get("permissions", 1))
        return ok()

    @app.put("/users/<name>/orgs/<slug>")
    def update_user_org(name, slug):
        body = json_body()
        with db.lock:
            _, user = admin_target(name, "Only admins can manage user organizations")
            org = _organization(db, slug)
            if org.owner_id == user["id"]:
                raise bad_request("Cannot change permissions for the organization owner")
            if user["id"] not in org.members:
                raise bad_request("User is not a member of this organization")
            org.members[user["id"]] = _permissions(body.get("permissions", 0))
        return ok()

    @app.delete("/users/<name>/orgs/<slug>")
    def remove_user_org(name, slug):
        with db.lock:
            _, user = admin_target(name, "Only admins can manage user organizations")
            org = _organization(db, slug)
            if org.owner_id == user["id"]:
                raise bad_request("Cannot remove the owner from their organization")
            if user["id"] not in org.members:
                raise bad_request("User is not a member of this organization")
            del org.members[user["id"]]
        return ok()

    # -- organizations ------------------------------------------------------------------------
    @app.get("/orgs")
    def organizations():
        """``OrganizationsManager.List``: refused (401 "Invalid user") for a deleted or
        ``deactivated`` caller (``AuthManager.CanListOrganizations``): roles are read per
        request, so writing ``deactivated`` cuts every token at once. Admins see all."""
        current = caller()
        if current.user is None or current.is_deactivated:
            raise unauthorized("Invalid user")
        uid = current.user["id"]
        with db.lock:
            visible = [
                org.to_dto()
                for org in db.organizations.values()
                if current.is_admin or org.owner_id == uid or uid in org.members or org.is_public
            ]
        return jsonify(visible)

    @app.post("/orgs")
    def create_organization():
        """``OrganizationsController.Create`` (form fields) -> ``OrganizationsManager.AddNew``."""
        current = caller()
        if current.user is None:
            raise unauthorized("Invalid user")
        org = db.create_organization(current.user["id"], request.form.to_dict())
        return jsonify(org.to_dto())


def _organization(db: RegistryDatabase, slug: Any):
    org = db.organizations.get(slug) if isinstance(slug, str) else None
    if org is None:
        raise bad_request(f"Organization does not exist: {slug}")
    return org


def _permissions(value: Any) -> int:
    """``OrganizationPermissions`` (0..3); anything else fails JSON model binding: 400."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3:
        raise bad_request("The permissions field is invalid.")
    return value


def _quota_bytes(user: dict[str, Any]) -> int | None:
    quota = user["metadata"].get("maxStorageMB")
    return quota * MB if isinstance(quota, int) and not isinstance(quota, bool) else None
