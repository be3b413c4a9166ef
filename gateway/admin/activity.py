"""Who is in: each user's last successful sign-in per path (time, client address, user agent),
the newest sign-ins across users, and per-user figures for the users list.

Read-only; the rows are written by the login service (:mod:`gateway.login.lastsignin`), at most
once a minute per user, path and worker process, so times may lag by about a minute.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, func, literal, null, select, union_all

from gateway.admin.errors import AdminError
from gateway.admin.timefmt import aware, iso
from gateway.login.lastsignin import PATHS
from gateway.storage.db import Database
from gateway.storage.lastsignin import UserLastSignIn
from gateway.storage.models import AppPassword, SsoSession
from providers.sql import UTCDateTime, utcnow

MAX_PAGE = 200
_SIGNINS = UserLastSignIn.__table__
_SESSIONS = SsoSession.__table__
_SECRETS = AppPassword.__table__


@dataclass(frozen=True)
class SignIn:
    username: str
    path: str
    at: datetime
    client_address: str | None
    user_agent: str | None

    @property
    def path_label(self) -> str:
        return PATHS.get(self.path, self.path)

    def record(self) -> dict[str, Any]:
        """As the admin API shows it."""
        return {
            "username": self.username,
            "path": self.path,
            "at": iso(self.at),
            "clientAddress": self.client_address,
            "userAgent": self.user_agent,
        }


@dataclass(frozen=True)
class UserFigures:
    """What the users list shows per user: open gateway sessions, app passwords and API keys
    not revoked, and the newest sign-in on any path (None: none recorded)."""

    sessions: int = 0
    app_passwords: int = 0
    api_keys: int = 0
    last_activity: datetime | None = None

    def record(self) -> dict[str, Any]:
        return {
            "activeSessions": self.sessions,
            "appPasswords": self.app_passwords,
            "apiKeys": self.api_keys,
            "lastActivityAt": iso(self.last_activity),
        }


class Activity:
    def __init__(self, database: Database):
        self._db = database

    def of_user(self, username: str) -> list[SignIn]:
        """``username``'s last sign-in on each path they used, in PATHS order."""
        return self.of_users([username]).get(username, [])

    def of_users(self, usernames: Iterable[str]) -> dict[str, list[SignIn]]:
        """Each given user's last sign-ins (one query), in PATHS order; users without any are
        left out."""
        names = sorted(set(usernames))
        if not names:
            return {}
        with self._db.engine.connect() as connection:
            rows = connection.execute(select(_SIGNINS).where(_SIGNINS.c.username.in_(names))).all()
        order = list(PATHS)
        found: dict[str, list[SignIn]] = {}
        for row in sorted(rows, key=lambda r: order.index(r.path) if r.path in order else len(order)):
            found.setdefault(row.username, []).append(_sign_in(row))
        return found

    def recent(
        self, *, path: str | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[list[SignIn], int]:
        """The newest last-sign-ins across users (one row per user and path), optionally on one
        ``path``; and how many match in all. AdminError 400 for an unknown path or bad limit."""
        if path is not None and path not in PATHS:
            raise AdminError(400, f"path must be one of {', '.join(PATHS)}", "path")
        if not 1 <= limit <= MAX_PAGE:
            raise AdminError(400, f"limit must be 1 to {MAX_PAGE}", "limit")
        if offset < 0:
            raise AdminError(400, "offset must be 0 or more", "offset")
        where = [_SIGNINS.c.path == path] if path else []
        with self._db.engine.connect() as connection:
            rows = connection.execute(
                select(_SIGNINS)
                .where(*where)
                .order_by(_SIGNINS.c.at.desc(), _SIGNINS.c.username, _SIGNINS.c.path)
                .offset(offset)
                .limit(limit)
            ).all()
            total = connection.execute(select(func.count()).select_from(_SIGNINS).where(*where)).scalar_one()
        return [_sign_in(row) for row in rows], total

    def figures(self, usernames: Iterable[str]) -> dict[str, UserFigures]:
        """:class:`UserFigures` for each given user, in one query (one row per user and
        figure, UNION ALL of three grouped reads)."""
        names = sorted(set(usernames))
        if not names:
            return {}
        now = utcnow()
        no_time = literal(None, UTCDateTime()).label("at")
        sessions = (
            select(
                _SESSIONS.c.username,
                literal("sessions").label("kind"),
                func.count().label("n"),
                no_time,
            )
            .where(
                _SESSIONS.c.username.in_(names),
                _SESSIONS.c.revoked_at.is_(None),
                _SESSIONS.c.expires_at > now,
            )
            .group_by(_SESSIONS.c.username)
        )
        secrets = (
            select(_SECRETS.c.username, _SECRETS.c.kind, func.count(), null())
            .where(
                _SECRETS.c.username.in_(names),
                _SECRETS.c.revoked_at.is_(None),  # expired ones count, as in their own list
            )
            .group_by(_SECRETS.c.username, _SECRETS.c.kind)
        )
        latest = (
            select(
                _SIGNINS.c.username,
                literal("latest"),
                literal(None, Integer()),
                func.max(_SIGNINS.c.at),
            )
            .where(_SIGNINS.c.username.in_(names))
            .group_by(_SIGNINS.c.username)
        )
        with self._db.engine.connect() as connection:
            rows = connection.execute(union_all(sessions, secrets, latest)).all()
        counts: dict[str, dict[str, Any]] = {name: {} for name in names}
        for username, kind, number, at in rows:
            counts[username][kind] = at if kind == "latest" else int(number or 0)
        return {
            name: UserFigures(
                sessions=found.get("sessions", 0),
                app_passwords=found.get("app", 0),
                api_keys=found.get("api", 0),
                last_activity=_time(found.get("latest")),
            )
            for name, found in counts.items()
        }


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite hands a UNION's untyped column back as text
        value = datetime.fromisoformat(value)
    return aware(value)


def _sign_in(row) -> SignIn:
    return SignIn(row.username, row.path, aware(row.at), row.client_address, row.user_agent)


__all__ = ["Activity", "SignIn", "UserFigures"]
