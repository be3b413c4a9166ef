"""Reading the users of a DroneDB Registry's identity database, read-only.

The Registry keeps its users in ASP.NET Core Identity's tables (Registry.Web.Identity's
``ApplicationDbContext``, an ``IdentityDbContext<User>``): ``AspNetUsers`` (with the Registry's
extra ``Metadata`` column: a ``Dictionary<string, object>`` stored as Newtonsoft.Json text),
``AspNetRoles`` and ``AspNetUserRoles``. Its ``AuthProvider`` setting puts them in SQLite (the
default: ``identity.db``) or in MySQL/MariaDB (usually a database called ``RegistryAuth``).

:func:`read_registry_users` opens such a database without writing to it (SQLite in
``mode=ro``; on MySQL only SELECTs run) and returns its users. Nothing here interprets the
values; :mod:`gateway.registryimport` does.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import column, create_engine, inspect, select, table
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

REQUIRED_TABLES = ("AspNetUsers", "AspNetRoles", "AspNetUserRoles")
REQUIRED_USER_COLUMNS = ("Id", "UserName", "PasswordHash")
OPTIONAL_USER_COLUMNS = ("Email", "Metadata", "LockoutEnd", "LockoutEnabled")
MYSQL_SCHEMES = ("mysql", "mariadb")
CONNECT_TIMEOUT_SECONDS = 10


class SourceError(Exception):
    """The identity database cannot be read; the message is one line fit to show (it never
    contains a database password)."""


@dataclass(frozen=True)
class RegistryUser:
    """One ``AspNetUsers`` row with its role names, as stored (no interpretation)."""

    id: str
    username: str | None
    email: str | None
    password_hash: str | None
    roles: tuple[str, ...]
    metadata: str | None  # the Metadata column's JSON text; None when the column is absent
    lockout_end: Any  # a datetime (MySQL), a text (SQLite) or None
    lockout_enabled: bool


@dataclass(frozen=True)
class Source:
    """Where to read: ``url`` for SQLAlchemy, ``label`` to show (no password)."""

    url: URL
    label: str
    sqlite_path: Path | None = None


def resolve_source(source: str) -> Source:
    """Turn the command-line SOURCE into a :class:`Source`: a path to an SQLite file (or a
    ``sqlite:///`` URL), or a MySQL/MariaDB URL. ``mysql://`` and ``mariadb://`` use PyMySQL
    (``mysql+pymysql://``); an explicit ``mysql+DRIVER://`` is kept. Raises SourceError."""
    text = source.strip()
    if "://" not in text:
        return _sqlite_source(Path(text))
    try:
        url = make_url(text)
    except ArgumentError:
        raise SourceError("SOURCE is neither a path to identity.db nor a database URL") from None
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite":
        if not url.database:
            raise SourceError("a sqlite:/// URL needs the path of identity.db")
        return _sqlite_source(Path(url.database))
    if backend not in MYSQL_SCHEMES:
        raise SourceError(f"unsupported database {backend!r}: give a path to identity.db or a "
                          "mysql+pymysql://user:password@host:port/RegistryAuth URL")
    url = url.set(drivername=f"mysql+{driver or 'pymysql'}")
    if not url.database:
        raise SourceError("the MySQL/MariaDB URL names no database (e.g. .../RegistryAuth)")
    if "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    return Source(url, url.render_as_string(hide_password=True))


def read_registry_users(source: Source) -> list[RegistryUser]:
    """Every user of the identity database at ``source``, ordered by user name (case-insensitively), with the names
    of their roles (sorted). Raises SourceError when the database cannot be opened or is not a
    Registry identity database (a missing table or column)."""
    engine = _engine(source)
    try:
        with engine.connect() as connection:
            names = _table_names(connection)
            rows = connection.execute(_users_query(connection, names)).mappings().all()
            roles = _roles_by_user(connection, names)
    except SourceError:
        raise
    except SQLAlchemyError as error:
        raise SourceError(f"{source.label}: {_reason(error)}") from None
    finally:
        engine.dispose()
    users = [RegistryUser(
        id=str(row["Id"]), username=row["UserName"], email=row.get("Email"),
        password_hash=row["PasswordHash"], roles=tuple(sorted(roles.get(str(row["Id"]), ()))),
        metadata=row.get("Metadata"), lockout_end=row.get("LockoutEnd"),
        lockout_enabled=bool(row.get("LockoutEnabled"))) for row in rows]
    return sorted(users, key=lambda user: ((user.username or "").casefold(), user.id))


def _sqlite_source(path: Path) -> Source:
    if not path.is_file():
        raise SourceError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    return Source(URL.create("sqlite"), str(path), sqlite_path=path.resolve())


def _engine(source: Source) -> Engine:
    if source.sqlite_path is not None:
        uri = source.sqlite_path.as_uri() + "?mode=ro"  # as_uri percent-encodes the path
        return create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True))
    try:
        return create_engine(source.url, connect_args={
            "connect_timeout": CONNECT_TIMEOUT_SECONDS, "read_timeout": 60})
    except (NoSuchModuleError, ImportError) as error:
        raise SourceError(f"{source.label}: the database driver is not installed ({error}); "
                          "install it with: pip install 'dronedb-auth-gateway[mysql]'") from None


def _table_names(connection) -> dict[str, str]:
    """Lower-cased name -> actual name (MySQL with lower_case_table_names stores them lower)."""
    actual = {name.lower(): name for name in inspect(connection).get_table_names()}
    missing = [name for name in REQUIRED_TABLES if name.lower() not in actual]
    if missing:
        raise SourceError(f"not a DroneDB Registry identity database: no table "
                          f"{', '.join(missing)}")
    return actual


def _users_query(connection, names: dict[str, str]):
    """SELECT of the AspNetUsers columns this reader uses (column names are case-insensitive
    in SQLite and MySQL; only table names may not be)."""
    actual = names["aspnetusers"]
    present = {c["name"].lower() for c in inspect(connection).get_columns(actual)}
    missing = [name for name in REQUIRED_USER_COLUMNS if name.lower() not in present]
    if missing:
        raise SourceError(f"not a DroneDB Registry identity database: {actual} has no column "
                          f"{', '.join(missing)}")
    wanted = [name for name in REQUIRED_USER_COLUMNS + OPTIONAL_USER_COLUMNS
              if name.lower() in present]
    return select(*table(actual, *(column(name) for name in wanted)).c)


def _roles_by_user(connection, names: dict[str, str]) -> dict[str, list[str]]:
    user_roles = table(names["aspnetuserroles"], column("UserId"), column("RoleId"))
    roles = table(names["aspnetroles"], column("Id"), column("Name"))
    query = (select(user_roles.c.UserId, roles.c.Name)
             .select_from(user_roles.join(roles, roles.c.Id == user_roles.c.RoleId)))
    result: dict[str, list[str]] = {}
    for user_id, name in connection.execute(query):
        if name is not None:
            result.setdefault(str(user_id), []).append(name)
    return result


def _reason(error: SQLAlchemyError) -> str:
    """The first line of the driver's message, without SQLAlchemy's boilerplate."""
    lines = str(getattr(error, "orig", None) or error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
