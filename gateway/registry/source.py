"""Reading the users of a DroneDB Registry's identity database, read-only.

The Registry keeps its users in ASP.NET Core Identity's tables (Registry.Web.Identity's
``ApplicationDbContext``, an ``IdentityDbContext<User>``): ``AspNetUsers`` (with the Registry's
extra ``Metadata`` column: a ``Dictionary<string, object>`` stored as Newtonsoft.Json text),
``AspNetRoles`` and ``AspNetUserRoles``. Its ``AuthProvider`` setting puts them in SQLite (the
default: ``identity.db``) or in MySQL/MariaDB (usually a database called ``RegistryAuth``).

:func:`read_registry_users` opens such a database without writing to it (SQLite in
``mode=ro``; on MySQL only SELECTs run) and returns its users. Nothing here interprets the
values; :mod:`gateway.registry.importer` does.
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
_BAD_URL = (
    "the database URL has a port or an option the driver cannot use (a port is a number "
    "from 1 to 65535; an IPv6 host goes in [brackets]; options such as read_timeout are "
    "numbers); percent-encode special characters of the password ('@' as %40)"
)
# What a bad URL option (``?read_timeout=abc``, ``?ssl=x``) raises while the driver reads it.
_URL_VALUE_ERRORS = (ValueError, TypeError, AttributeError, LookupError, OverflowError)


class SourceError(Exception):
    """The identity database cannot be read; the message is one line fit to show (it never
    contains a database password)."""


@dataclass(frozen=True)
class RegistryUser:
    """One ``AspNetUsers`` row with its role names, as stored (no interpretation)."""

    # Text columns hold a str, or None; from a hostile database, anything else (bytes that are
    # not UTF-8, an SQLite number): gateway.registry.users reads only a str.
    id: str
    username: Any
    email: Any
    password_hash: Any
    roles: tuple[Any, ...]
    metadata: Any  # the Metadata column's JSON text; None when the column is absent
    lockout_end: Any  # a datetime (MySQL), a text (SQLite) or None
    lockout_enabled: bool


@dataclass(frozen=True)
class Source:
    """Where to read: ``url`` for SQLAlchemy, ``label`` to show (no password)."""

    url: URL
    label: str
    sqlite_path: Path | None = None


def resolve_source(source: str, password: str | None = None) -> Source:
    """Turn the command-line SOURCE into a :class:`Source`: a path to an SQLite file (or a
    ``sqlite:///`` URL), or a MySQL/MariaDB URL. ``mysql://`` and ``mariadb://`` use PyMySQL
    (``mysql+pymysql://``); an explicit ``mysql+DRIVER://`` is kept. ``password`` (e.g. from
    REGISTRY_DB_PASSWORD) is used when a MySQL URL names a user but no password. Raises
    SourceError; its message never contains any part of a password."""
    text = source.strip()
    if "://" not in text:
        return _sqlite_source(Path(text))
    scheme, _, rest = text.partition("://")
    if not scheme.lower().startswith("sqlite") and rest.count("@") > 1:
        # make_url would end the password at its first '@' and show the rest as the host.
        raise SourceError(
            "the database URL has more than one '@': percent-encode each '@' in "
            "the password (and elsewhere) as %40, or leave the password out of the "
            "URL and set REGISTRY_DB_PASSWORD"
        )
    try:
        url = make_url(text)
    except ArgumentError:
        raise SourceError("SOURCE is neither a path to identity.db nor a database URL") from None
    except ValueError:  # a port that is not a number (the text may hold part of a password)
        raise SourceError(_BAD_URL) from None
    backend, _, driver = url.drivername.partition("+")
    if backend == "sqlite":
        if not url.database:
            raise SourceError("a sqlite:/// URL needs the path of identity.db")
        return _sqlite_source(Path(url.database))
    if backend not in MYSQL_SCHEMES:
        raise SourceError(
            f"unsupported database {backend!r}: give a path to identity.db or a "
            "mysql+pymysql://user:password@host:port/RegistryAuth URL"
        )
    if url.port is not None and not 0 < url.port < 65536:
        raise SourceError(_BAD_URL)
    url = url.set(drivername=f"mysql+{driver or 'pymysql'}")
    if not url.database:
        raise SourceError("the MySQL/MariaDB URL names no database (e.g. .../RegistryAuth)")
    if url.username and not url.password and password:
        url = url.set(password=password)
    if "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    return Source(url, url.render_as_string(hide_password=True))


def read_registry_users(source: Source) -> list[RegistryUser]:
    """Every user of the identity database at ``source``, ordered by user name
    (case-insensitively), with the names of their roles (sorted). Raises SourceError when the
    database cannot be opened or is not a Registry identity database (a missing table or column).

    Text cells come as str; a BLOB (or, on SQLite, a TEXT that is not UTF-8) as str when it is
    valid UTF-8, else as bytes. Other stored types (SQLite numbers) are passed on as they are:
    :mod:`gateway.registry.users` treats what is not a str as unreadable."""
    engine = _engine(source)
    try:
        with engine.connect() as connection:
            names = _table_names(connection)
            rows = connection.execute(_users_query(connection, names)).mappings().all()
            roles = _roles_by_user(connection, names)
    except SourceError:
        raise
    except SQLAlchemyError as error:
        raise SourceError(f"{source.label}: {driver_reason(error)}") from None
    except _URL_VALUE_ERRORS:
        raise SourceError(f"{source.label}: {_BAD_URL}") from None
    finally:
        engine.dispose()
    users = []
    for row in rows:
        user_id = str(_decoded(row["Id"]))
        users.append(
            RegistryUser(
                id=user_id,
                username=_decoded(row["UserName"]),
                email=_decoded(row.get("Email")),
                password_hash=_decoded(row["PasswordHash"]),
                roles=tuple(sorted(roles.get(user_id, ()), key=_text_key)),
                metadata=_decoded(row.get("Metadata")),
                lockout_end=_decoded(row.get("LockoutEnd")),
                lockout_enabled=bool(row.get("LockoutEnabled")),
            )
        )
    return sorted(users, key=lambda user: (_text_key(user.username), user.id))


def _decoded(value: Any) -> Any:
    """A BLOB as str when it is valid UTF-8; anything else as it is."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value)
    return value


def _text_key(value: Any) -> tuple[int, str]:
    """A sort key for a cell that should be text but may be anything (str first)."""
    if isinstance(value, str):
        return (0, value.casefold())
    return (1, "" if value is None else repr(value))


def _sqlite_source(path: Path) -> Source:
    if not path.is_file():
        raise SourceError(f"{path}: {'not a file' if path.exists() else 'no such file'}")
    return Source(URL.create("sqlite"), str(path), sqlite_path=path.resolve())


def _engine(source: Source) -> Engine:
    if source.sqlite_path is not None:
        uri = source.sqlite_path.as_uri() + "?mode=ro"  # as_uri percent-encodes the path
        return create_engine("sqlite://", creator=lambda: _sqlite_connect(uri))
    try:
        return create_engine(
            source.url, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS, "read_timeout": 60}
        )
    except (NoSuchModuleError, ImportError) as error:
        raise SourceError(
            f"{source.label}: the database driver is not installed ({error}); "
            "install it with: pip install 'dronedb-auth-gateway[mysql]'"
        ) from None
    except _URL_VALUE_ERRORS:  # e.g. ?read_timeout=abc, read when the engine is made
        raise SourceError(f"{source.label}: {_BAD_URL}") from None


def _sqlite_connect(uri: str) -> sqlite3.Connection:
    connection = sqlite3.connect(uri, uri=True)
    # A TEXT cell that is not UTF-8 comes as bytes (the default fails the whole query, and its
    # message quotes the cell, which may be a password hash).
    connection.text_factory = _decoded
    return connection


def _table_names(connection) -> dict[str, str]:
    """Lower-cased name -> actual name (MySQL with lower_case_table_names stores them lower)."""
    actual = {name.lower(): name for name in inspect(connection).get_table_names()}
    missing = [name for name in REQUIRED_TABLES if name.lower() not in actual]
    if missing:
        raise SourceError(f"not a DroneDB Registry identity database: no table {', '.join(missing)}")
    return actual


def _users_query(connection, names: dict[str, str]):
    """SELECT of the AspNetUsers columns this reader uses (column names are case-insensitive
    in SQLite and MySQL; only table names may not be)."""
    actual = names["aspnetusers"]
    present = {c["name"].lower() for c in inspect(connection).get_columns(actual)}
    missing = [name for name in REQUIRED_USER_COLUMNS if name.lower() not in present]
    if missing:
        raise SourceError(
            f"not a DroneDB Registry identity database: {actual} has no column {', '.join(missing)}"
        )
    wanted = [name for name in REQUIRED_USER_COLUMNS + OPTIONAL_USER_COLUMNS if name.lower() in present]
    return select(*table(actual, *(column(name) for name in wanted)).c)


def _roles_by_user(connection, names: dict[str, str]) -> dict[str, list[str]]:
    user_roles = table(names["aspnetuserroles"], column("UserId"), column("RoleId"))
    roles = table(names["aspnetroles"], column("Id"), column("Name"))
    query = select(user_roles.c.UserId, roles.c.Name).select_from(
        user_roles.join(roles, roles.c.Id == user_roles.c.RoleId)
    )
    result: dict[str, list[str]] = {}
    for user_id, name in connection.execute(query):
        if name is not None:
            result.setdefault(str(_decoded(user_id)), []).append(_decoded(name))
    return result


def driver_reason(error: SQLAlchemyError) -> str:
    """The first line of the driver's message, without SQLAlchemy's boilerplate."""
    lines = str(getattr(error, "orig", None) or error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
