"""A client of the DroneDB Registry's admin API (contract §2.6), for keeping the Registry in
step with the gateway between logins.

It obtains a Registry admin JWT the ordinary way, ``POST {url}/users/authenticate`` with the
service account's username and password (the Registry relays them to the gateway, whose answer
must carry the ``admin`` role), keeps it, renews it shortly before its ``exp`` and once more
when a call is answered 401, and bounds every HTTP call as a whole: the answer must be in, in
full, by the connect plus the read timeout after the call started (a Registry that drips its
answer byte by byte is cut off then, as a timeout) and be at most :data:`MAX_ANSWER_BYTES`
long. Errors are typed (:mod:`gateway.registry.errors`) and never carry the password or
a token. The client is safe to share between threads.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from gateway.registry.errors import RegistryError, RegistryRefused, RegistryUnavailable, UnknownRegistryUser
from gateway.registry.results import (
    Membership,
    Organization,
    OrgPermission,
    RegistryHealth,
    RegistryUserDetail,
    StorageInfo,
)
from gateway.registry.settings import RegistrySettings
from providers.transport import AnswerTooLarge, bounded_request, watch_connections

log = logging.getLogger(__name__)

# UsersManager.cs: the 400 for a named user without an account is "Cannot find user <name>",
# except in DeleteUser and UpdateUser, which say "User does not exist" after checking that the
# caller is an admin. Elsewhere that text means the *caller's* account is gone: not the user's.
_CANNOT_FIND_USER = "Cannot find user "
_USER_DOES_NOT_EXIST = "User does not exist"
# GET /users/detailed lists every account in one answer (some 250 bytes each): room for
# about 60,000 of them; a longer answer is refused as the Registry's failure.
MAX_ANSWER_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class _Answer:
    """The Registry's answer to one call, read in full."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The parsed body; ValueError when it is not JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class RegistryToken:
    """A Registry JWT: ``expires_at`` (epoch seconds, from its unverified ``exp``) and its
    ``admin`` claim (``UsersManager.GenerateJwtToken``), read only to decide when to renew and
    to explain a refusal."""

    value: str = field(repr=False)
    expires_at: float | None
    admin: bool | None


class RegistryClient:
    """The Registry admin API, one method per call; see the module docstring."""

    def __init__(
        self,
        settings: RegistrySettings,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self._http = watch_connections(session or requests.Session())
        self._http.trust_env = False  # no proxy or .netrc from the environment
        self._clock = clock
        self._token: RegistryToken | None = None
        self._token_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    # -- the admin JWT -------------------------------------------------------------
    def authenticate(self) -> RegistryToken:
        """Obtain a fresh admin JWT and keep it. Raises RegistryRefused (e.g. 401 when the
        gateway denied the service account) or RegistryUnavailable."""
        answer = self._send(
            "POST",
            "/users/authenticate",
            data={"username": self.settings.username, "password": self.settings.password},
        )
        if answer.status >= 400:
            raise self._refusal(answer, None)
        body = self._json(answer, "/users/authenticate")
        value = body.get("token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise RegistryUnavailable("the Registry's authenticate answer carries no token")
        claims = _unverified_claims(value)
        expires = claims.get("exp", body.get("expires"))
        admin = claims.get("admin")
        token = RegistryToken(
            value=value,
            expires_at=float(expires) if isinstance(expires, (int, float)) else None,
            admin=None if admin is None else str(admin).lower() == "true",
        )
        with self._token_lock:
            self._token = token
        if token.admin is False:
            log.warning("registry: service account %r is not a Registry admin", self.settings.username)
        return token

    def _current_token(self) -> RegistryToken:
        """The kept token, renewed first when missing or within ``renew_before_seconds`` of ``exp``."""
        with self._token_lock:
            token = self._token
        if token is None or (
            token.expires_at is not None
            and self._clock() >= token.expires_at - self.settings.renew_before_seconds
        ):
            token = self.authenticate()
        return token

    # -- users ------------------------------------------------------------------------
    def set_metadata(self, name: str, metadata: dict[str, Any]) -> None:
        """``POST /users/{name}/meta``: replace the user's whole metadata and re-run the
        Registry's role sync on it (so the gateway's login answer here makes roles and quota
        what a login would). Raises UnknownRegistryUser when the user has no account."""
        self._call("POST", f"/users/{_seg(name)}/meta", json=metadata, user=name)

    def update_user(self, name: str, email: str, roles: list[str]) -> None:
        """``PUT /users/{name}``: set the account's email and replace its roles (both required)."""
        body = {"email": email, "roles": list(roles)}
        self._call("PUT", f"/users/{_seg(name)}", json=body, user=name, gone=_USER_DOES_NOT_EXIST)

    def delete_user(self, name: str) -> None:
        """``DELETE /users/{name}``: delete the account (its organizations' data is the
        Registry's business). Raises UnknownRegistryUser when there is no such account."""
        self._call("DELETE", f"/users/{_seg(name)}", user=name, gone=_USER_DOES_NOT_EXIST)

    def users_detailed(self) -> list[RegistryUserDetail]:
        """``GET /users/detailed``: every account with roles, quota and storage used."""
        body = self._call("GET", "/users/detailed")
        return [RegistryUserDetail.from_json(item) for item in _list_of_objects(body, "/users/detailed")]

    def user_storage(self, name: str) -> StorageInfo:
        """``GET /users/{name}/storage``: quota (None: unlimited) and bytes used."""
        body = self._call("GET", f"/users/{_seg(name)}/storage", user=name)
        if not isinstance(body, dict):
            raise RegistryUnavailable("the Registry's storage answer is not a JSON object")
        return StorageInfo.from_json(body)

    # -- organizations ----------------------------------------------------------------
    def user_organizations(self, name: str) -> list[Membership]:
        """``GET /users/{name}/orgs``: the organizations the user owns or belongs to."""
        body = self._call("GET", f"/users/{_seg(name)}/orgs", user=name)
        return [Membership.from_json(item) for item in _list_of_objects(body, "/users/{name}/orgs")]

    def add_to_organization(
        self, name: str, slug: str, permissions: OrgPermission = OrgPermission.READ_WRITE
    ) -> None:
        """``POST /users/{name}/orgs``: make the user a member of ``slug``."""
        body = {"orgSlug": slug, "permissions": int(permissions)}
        self._call("POST", f"/users/{_seg(name)}/orgs", json=body, user=name)

    def set_organization_permissions(self, name: str, slug: str, permissions: OrgPermission) -> None:
        """``PUT /users/{name}/orgs/{slug}``: change the member's level."""
        path = f"/users/{_seg(name)}/orgs/{_seg(slug)}"
        self._call("PUT", path, json={"permissions": int(permissions)}, user=name)

    def remove_from_organization(self, name: str, slug: str) -> None:
        """``DELETE /users/{name}/orgs/{slug}``: end the membership."""
        self._call("DELETE", f"/users/{_seg(name)}/orgs/{_seg(slug)}", user=name)

    def organizations(self) -> list[Organization]:
        """``GET /orgs``: the organizations the service account sees (all of them, as admin)."""
        body = self._call("GET", "/orgs")
        return [Organization.from_json(item) for item in _list_of_objects(body, "/orgs")]

    def create_organization(
        self, slug: str, name: str, description: str = "", is_public: bool = False
    ) -> Organization:
        """``POST /orgs`` (form fields): a new organization owned by the service account.
        An existing slug is refused with 409 (``OrganizationsManager.AddNew``)."""
        form = {"slug": slug, "name": name, "description": description, "isPublic": str(is_public).lower()}
        body = self._call("POST", "/orgs", data=form)
        if not isinstance(body, dict):
            raise RegistryUnavailable("the Registry's organization answer is not a JSON object")
        return Organization.from_json(body)

    # -- health --------------------------------------------------------------------------
    def health(self) -> RegistryHealth:
        """``ok`` when a Registry JWT is held or can be obtained, the Registry accepts it
        (``GET /users/roles``, a small call open to any account) and it carries the admin
        flag; otherwise ``degraded`` with the reason. Never raises."""
        try:
            self._call("GET", "/users/roles")
            with self._token_lock:
                token = self._token
        except RegistryError as exc:
            return RegistryHealth("degraded", str(exc))
        except Exception as exc:  # a health probe must never fail its caller
            return RegistryHealth("degraded", f"unexpected {type(exc).__name__}")
        if token is not None and token.admin is False:
            return RegistryHealth(
                "degraded", f"the service account {self.settings.username!r} is not a Registry admin"
            )
        return RegistryHealth("ok")

    # -- plumbing ------------------------------------------------------------------------
    def _call(
        self, method: str, path: str, *, user: str | None = None, gone: str | None = None, **kwargs: Any
    ) -> Any:
        """One authenticated call: renewed and retried once on 401; the parsed JSON body
        (None when empty). ``user`` is the user the call is about: a 400 saying it has no
        account (``"Cannot find user <user>"``, or ``gone`` when given) is UnknownRegistryUser."""
        token = self._current_token()
        answer = self._send(method, path, token=token, **kwargs)
        if answer.status == 401 or (gone != _USER_DOES_NOT_EXIST and _caller_account_gone(answer)):
            # 401: the token expired or the Registry's secret changed. 400 "User does not
            # exist" outside DeleteUser/UpdateUser: the service account's own Registry account
            # was deleted; logging in again creates it afresh.
            log.info("registry: %s %s answered %s; renewing the admin token", method, path, answer.status)
            token = self.authenticate()
            answer = self._send(method, path, token=token, **kwargs)
        if answer.status >= 400:
            raise self._refusal(answer, token, user, gone or _CANNOT_FIND_USER + (user or ""))
        return self._json(answer, path) if answer.body else None

    def _send(self, method: str, path: str, *, token: RegistryToken | None = None, **kwargs: Any) -> _Answer:
        """One HTTP call, bounded as the module docstring says; a connection failure, a
        timeout, an oversized answer, a 3xx or a 5xx is RegistryUnavailable."""
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token.value}"
        timeout = self.settings.timeout
        try:
            response, body = bounded_request(
                self._http,
                method,
                self.settings.url + path,
                timeout=timeout,
                deadline=sum(timeout),
                max_bytes=MAX_ANSWER_BYTES,
                headers=headers,
                verify=self.settings.verify,
                **kwargs,
            )
        except requests.Timeout:
            raise RegistryUnavailable(f"the Registry at {self.settings.url} did not answer in time") from None
        except AnswerTooLarge:
            raise RegistryUnavailable(
                f"the Registry's answer to {method} {path} is longer than {MAX_ANSWER_BYTES // 1024**2} MiB"
            ) from None
        except requests.RequestException as exc:
            raise RegistryUnavailable(
                f"cannot reach the Registry at {self.settings.url} ({type(exc).__name__})"
            ) from None
        if response.status_code >= 500 or 300 <= response.status_code < 400:
            raise RegistryUnavailable(
                f"the Registry at {self.settings.url} answered {response.status_code} to {method} {path}"
            )
        return _Answer(response.status_code, body)

    def _refusal(
        self,
        answer: _Answer,
        token: RegistryToken | None,
        user: str | None = None,
        unknown_user_error: str = "",
    ) -> RegistryRefused:
        error = _error_text(answer)
        if answer.status == 400 and user is not None and error == unknown_user_error:
            return UnknownRegistryUser(answer.status, error, user)
        hint = ""
        if answer.status == 401 and token is not None and token.admin is False:
            hint = f"the service account {self.settings.username!r} is not a Registry admin"
        elif answer.status == 401 and token is None:
            hint = f"the gateway denied the service account {self.settings.username!r}"
        return RegistryRefused(answer.status, error, hint)

    @staticmethod
    def _json(answer: _Answer, path: str) -> Any:
        try:
            return answer.json()
        except ValueError:
            raise RegistryUnavailable(f"the Registry's answer to {path} is not JSON") from None


def _seg(value: str) -> str:
    """One URL path segment."""
    return quote(value, safe="")


def _error_text(answer: _Answer) -> str:
    """The ``error`` of the Registry's ``ErrorResponse`` body, or ''."""
    try:
        body = answer.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return error[:500] if isinstance(error, str) else ""


def _caller_account_gone(answer: _Answer) -> bool:
    return answer.status == 400 and _error_text(answer) == _USER_DOES_NOT_EXIST


def _list_of_objects(body: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise RegistryUnavailable(f"the Registry's answer to {path} is not a JSON array of objects")
    return body


def _unverified_claims(token: str) -> dict[str, Any]:
    """The JWT's payload without checking its signature (only the Registry can: it holds the
    secret); {} when it is not a readable JWT."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}
