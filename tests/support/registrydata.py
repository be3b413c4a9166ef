"""A DroneDB Registry identity database for tests: ASP.NET Core Identity's tables as the
Registry's EF Core migrations create them, on SQLite (``identity.db``) or MySQL/MariaDB, and
password hashes built from the documented ``PasswordHasher<TUser>`` format.

The layouts follow DroneDB/Registry's ``Registry.Web.Identity.SqliteMigrations`` and
``Registry.Web.Identity.MySqlMigrations`` (``InitialCreate``): ``AspNetUsers`` with the
Registry's ``Metadata`` column (Newtonsoft.Json text of a ``Dictionary<string, object>``;
NOT NULL on SQLite, nullable on MySQL), ``AspNetRoles``, ``AspNetUserRoles`` and the other
Identity tables. Plain Python, no pytest import.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import column, create_engine, delete, insert, table, update

PRF_IDS = {"sha1": 0, "sha256": 1, "sha512": 2}

# -- password hashes (aspnetcore src/Identity/Extensions.Core/src/PasswordHasher.cs) ----------


def aspnet_v2(password: str, salt: bytes | None = None) -> str:
    """Identity V2: 0x00 | salt(16) | PBKDF2-HMAC-SHA1(password, salt, 1000, 32)."""
    salt = os.urandom(16) if salt is None else salt
    subkey = hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"), salt, 1000, 32)
    return base64.b64encode(b"\x00" + salt + subkey).decode()


def aspnet_v3(
    password: str,
    prf: str = "sha512",
    iterations: int = 100_000,
    salt: bytes | None = None,
    subkey_length: int = 32,
) -> str:
    """Identity V3: 0x01 | prf | iterations | salt length (uint32 big-endian each) | salt |
    PBKDF2-HMAC-<prf>(password, salt, iterations, subkey_length)."""
    salt = os.urandom(16) if salt is None else salt
    subkey = hashlib.pbkdf2_hmac(prf, password.encode("utf-8"), salt, iterations, subkey_length)
    header = struct.pack(">BIII", 1, PRF_IDS[prf], iterations, len(salt))
    return base64.b64encode(header + salt + subkey).decode()


# -- the schema ------------------------------------------------------------------------------

SQLITE_SCHEMA = [
    'CREATE TABLE "AspNetRoles" ("Id" TEXT NOT NULL CONSTRAINT "PK_AspNetRoles" PRIMARY KEY, '
    '"Name" TEXT NULL, "NormalizedName" TEXT NULL, "ConcurrencyStamp" TEXT NULL)',
    'CREATE TABLE "AspNetUsers" ("Id" TEXT NOT NULL CONSTRAINT "PK_AspNetUsers" PRIMARY KEY, '
    '"Metadata" TEXT NOT NULL, "UserName" TEXT NULL, "NormalizedUserName" TEXT NULL, '
    '"Email" TEXT NULL, "NormalizedEmail" TEXT NULL, "EmailConfirmed" INTEGER NOT NULL, '
    '"PasswordHash" TEXT NULL, "SecurityStamp" TEXT NULL, "ConcurrencyStamp" TEXT NULL, '
    '"PhoneNumber" TEXT NULL, "PhoneNumberConfirmed" INTEGER NOT NULL, '
    '"TwoFactorEnabled" INTEGER NOT NULL, "LockoutEnd" TEXT NULL, '
    '"LockoutEnabled" INTEGER NOT NULL, "AccessFailedCount" INTEGER NOT NULL)',
    'CREATE TABLE "AspNetRoleClaims" ("Id" INTEGER NOT NULL CONSTRAINT "PK_AspNetRoleClaims" '
    'PRIMARY KEY AUTOINCREMENT, "RoleId" TEXT NOT NULL, "ClaimType" TEXT NULL, "ClaimValue" TEXT '
    'NULL, CONSTRAINT "FK_AspNetRoleClaims_AspNetRoles_RoleId" FOREIGN KEY ("RoleId") '
    'REFERENCES "AspNetRoles" ("Id") ON DELETE CASCADE)',
    'CREATE TABLE "AspNetUserClaims" ("Id" INTEGER NOT NULL CONSTRAINT "PK_AspNetUserClaims" '
    'PRIMARY KEY AUTOINCREMENT, "UserId" TEXT NOT NULL, "ClaimType" TEXT NULL, "ClaimValue" TEXT '
    'NULL, CONSTRAINT "FK_AspNetUserClaims_AspNetUsers_UserId" FOREIGN KEY ("UserId") '
    'REFERENCES "AspNetUsers" ("Id") ON DELETE CASCADE)',
    'CREATE TABLE "AspNetUserLogins" ("LoginProvider" TEXT NOT NULL, "ProviderKey" TEXT NOT NULL, '
    '"ProviderDisplayName" TEXT NULL, "UserId" TEXT NOT NULL, CONSTRAINT "PK_AspNetUserLogins" '
    'PRIMARY KEY ("LoginProvider", "ProviderKey"), CONSTRAINT '
    '"FK_AspNetUserLogins_AspNetUsers_UserId" FOREIGN KEY ("UserId") REFERENCES "AspNetUsers" '
    '("Id") ON DELETE CASCADE)',
    'CREATE TABLE "AspNetUserRoles" ("UserId" TEXT NOT NULL, "RoleId" TEXT NOT NULL, '
    'CONSTRAINT "PK_AspNetUserRoles" PRIMARY KEY ("UserId", "RoleId"), CONSTRAINT '
    '"FK_AspNetUserRoles_AspNetRoles_RoleId" FOREIGN KEY ("RoleId") REFERENCES "AspNetRoles" '
    '("Id") ON DELETE CASCADE, CONSTRAINT "FK_AspNetUserRoles_AspNetUsers_UserId" FOREIGN KEY '
    '("UserId") REFERENCES "AspNetUsers" ("Id") ON DELETE CASCADE)',
    'CREATE TABLE "AspNetUserTokens" ("UserId" TEXT NOT NULL, "LoginProvider" TEXT NOT NULL, '
    '"Name" TEXT NOT NULL, "Value" TEXT NULL, CONSTRAINT "PK_AspNetUserTokens" PRIMARY KEY '
    '("UserId", "LoginProvider", "Name"), CONSTRAINT "FK_AspNetUserTokens_AspNetUsers_UserId" '
    'FOREIGN KEY ("UserId") REFERENCES "AspNetUsers" ("Id") ON DELETE CASCADE)',
    'CREATE INDEX "IX_AspNetRoleClaims_RoleId" ON "AspNetRoleClaims" ("RoleId")',
    'CREATE UNIQUE INDEX "RoleNameIndex" ON "AspNetRoles" ("NormalizedName")',
    'CREATE INDEX "IX_AspNetUserClaims_UserId" ON "AspNetUserClaims" ("UserId")',
    'CREATE INDEX "IX_AspNetUserLogins_UserId" ON "AspNetUserLogins" ("UserId")',
    'CREATE INDEX "IX_AspNetUserRoles_RoleId" ON "AspNetUserRoles" ("RoleId")',
    'CREATE INDEX "EmailIndex" ON "AspNetUsers" ("NormalizedEmail")',
    'CREATE UNIQUE INDEX "UserNameIndex" ON "AspNetUsers" ("NormalizedUserName")',
]

_U = "CHARACTER SET utf8mb4"
MYSQL_SCHEMA = [
    f"CREATE TABLE `AspNetRoles` (`Id` varchar(255) {_U} NOT NULL, `Name` varchar(256) {_U} NULL, "
    f"`NormalizedName` varchar(256) {_U} NULL, `ConcurrencyStamp` longtext {_U} NULL, "
    f"CONSTRAINT `PK_AspNetRoles` PRIMARY KEY (`Id`)) {_U}",
    f"CREATE TABLE `AspNetUsers` (`Id` varchar(255) {_U} NOT NULL, `Metadata` longtext {_U} NULL, "
    f"`UserName` varchar(256) {_U} NULL, `NormalizedUserName` varchar(256) {_U} NULL, "
    f"`Email` varchar(256) {_U} NULL, `NormalizedEmail` varchar(256) {_U} NULL, "
    f"`EmailConfirmed` tinyint(1) NOT NULL, `PasswordHash` longtext {_U} NULL, "
    f"`SecurityStamp` longtext {_U} NULL, `ConcurrencyStamp` longtext {_U} NULL, "
    f"`PhoneNumber` longtext {_U} NULL, `PhoneNumberConfirmed` tinyint(1) NOT NULL, "
    f"`TwoFactorEnabled` tinyint(1) NOT NULL, `LockoutEnd` datetime(6) NULL, "
    f"`LockoutEnabled` tinyint(1) NOT NULL, `AccessFailedCount` int NOT NULL, "
    f"CONSTRAINT `PK_AspNetUsers` PRIMARY KEY (`Id`)) {_U}",
    f"CREATE TABLE `AspNetRoleClaims` (`Id` int NOT NULL AUTO_INCREMENT, `RoleId` varchar(255) "
    f"{_U} NOT NULL, `ClaimType` longtext {_U} NULL, `ClaimValue` longtext {_U} NULL, "
    f"CONSTRAINT `PK_AspNetRoleClaims` PRIMARY KEY (`Id`), CONSTRAINT "
    f"`FK_AspNetRoleClaims_AspNetRoles_RoleId` FOREIGN KEY (`RoleId`) REFERENCES `AspNetRoles` "
    f"(`Id`) ON DELETE CASCADE) {_U}",
    f"CREATE TABLE `AspNetUserClaims` (`Id` int NOT NULL AUTO_INCREMENT, `UserId` varchar(255) "
    f"{_U} NOT NULL, `ClaimType` longtext {_U} NULL, `ClaimValue` longtext {_U} NULL, "
    f"CONSTRAINT `PK_AspNetUserClaims` PRIMARY KEY (`Id`), CONSTRAINT "
    f"`FK_AspNetUserClaims_AspNetUsers_UserId` FOREIGN KEY (`UserId`) REFERENCES `AspNetUsers` "
    f"(`Id`) ON DELETE CASCADE) {_U}",
    f"CREATE TABLE `AspNetUserLogins` (`LoginProvider` varchar(255) {_U} NOT NULL, "
    f"`ProviderKey` varchar(255) {_U} NOT NULL, `ProviderDisplayName` longtext {_U} NULL, "
    f"`UserId` varchar(255) {_U} NOT NULL, CONSTRAINT `PK_AspNetUserLogins` PRIMARY KEY "
    f"(`LoginProvider`, `ProviderKey`), CONSTRAINT `FK_AspNetUserLogins_AspNetUsers_UserId` "
    f"FOREIGN KEY (`UserId`) REFERENCES `AspNetUsers` (`Id`) ON DELETE CASCADE) {_U}",
    f"CREATE TABLE `AspNetUserRoles` (`UserId` varchar(255) {_U} NOT NULL, `RoleId` varchar(255) "
    f"{_U} NOT NULL, CONSTRAINT `PK_AspNetUserRoles` PRIMARY KEY (`UserId`, `RoleId`), "
    f"CONSTRAINT `FK_AspNetUserRoles_AspNetRoles_RoleId` FOREIGN KEY (`RoleId`) REFERENCES "
    f"`AspNetRoles` (`Id`) ON DELETE CASCADE, CONSTRAINT `FK_AspNetUserRoles_AspNetUsers_UserId` "
    f"FOREIGN KEY (`UserId`) REFERENCES `AspNetUsers` (`Id`) ON DELETE CASCADE) {_U}",
    f"CREATE TABLE `AspNetUserTokens` (`UserId` varchar(255) {_U} NOT NULL, `LoginProvider` "
    f"varchar(255) {_U} NOT NULL, `Name` varchar(255) {_U} NOT NULL, `Value` longtext {_U} NULL, "
    f"CONSTRAINT `PK_AspNetUserTokens` PRIMARY KEY (`UserId`, `LoginProvider`, `Name`), "
    f"CONSTRAINT `FK_AspNetUserTokens_AspNetUsers_UserId` FOREIGN KEY (`UserId`) REFERENCES "
    f"`AspNetUsers` (`Id`) ON DELETE CASCADE) {_U}",
    "CREATE INDEX `IX_AspNetRoleClaims_RoleId` ON `AspNetRoleClaims` (`RoleId`)",
    "CREATE UNIQUE INDEX `RoleNameIndex` ON `AspNetRoles` (`NormalizedName`)",
    "CREATE INDEX `IX_AspNetUserClaims_UserId` ON `AspNetUserClaims` (`UserId`)",
    "CREATE INDEX `IX_AspNetUserLogins_UserId` ON `AspNetUserLogins` (`UserId`)",
    "CREATE INDEX `IX_AspNetUserRoles_RoleId` ON `AspNetUserRoles` (`RoleId`)",
    "CREATE INDEX `EmailIndex` ON `AspNetUsers` (`NormalizedEmail`)",
    "CREATE UNIQUE INDEX `UserNameIndex` ON `AspNetUsers` (`NormalizedUserName`)",
]

_USERS = table(
    "AspNetUsers",
    *(
        column(name)
        for name in (
            "Id",
            "Metadata",
            "UserName",
            "NormalizedUserName",
            "Email",
            "NormalizedEmail",
            "EmailConfirmed",
            "PasswordHash",
            "SecurityStamp",
            "ConcurrencyStamp",
            "PhoneNumber",
            "PhoneNumberConfirmed",
            "TwoFactorEnabled",
            "LockoutEnd",
            "LockoutEnabled",
            "AccessFailedCount",
        )
    ),
)
_ROLES = table(
    "AspNetRoles", column("Id"), column("Name"), column("NormalizedName"), column("ConcurrencyStamp")
)
_USER_ROLES = table("AspNetUserRoles", column("UserId"), column("RoleId"))


class IdentityDatabase:
    """The Registry's identity database at ``url`` (``sqlite:///path`` or a MySQL URL):
    :meth:`create` lays out the tables, :meth:`add_user` / :meth:`change_user` fill them as the
    Registry's UserManager would (normalised names, a role row per role name)."""

    def __init__(self, url: str):
        self.url = url
        self.mysql = url.startswith("mysql")
        self.engine = create_engine(url)

    def create(self) -> IdentityDatabase:
        with self.engine.begin() as connection:
            for statement in MYSQL_SCHEMA if self.mysql else SQLITE_SCHEMA:
                connection.exec_driver_sql(statement)
        return self

    def add_user(
        self,
        username: str | None,
        password_hash: str | None,
        *,
        email: str | None = None,
        roles: Iterable[str] = (),
        metadata: dict[str, Any] | str | None = None,
        lockout_end: datetime | None = None,
        lockout_enabled: bool = True,
    ) -> str:
        """Insert a user (``metadata`` a dict, or raw text stored as it is); return its Id."""
        user_id = str(uuid.uuid4())
        with self.engine.begin() as connection:
            connection.execute(
                insert(_USERS).values(
                    Id=user_id,
                    Metadata=self._metadata(metadata),
                    UserName=username,
                    NormalizedUserName=username.upper() if username else None,
                    Email=email,
                    NormalizedEmail=email.upper() if email else None,
                    EmailConfirmed=False,
                    PasswordHash=password_hash,
                    SecurityStamp=str(uuid.uuid4()),
                    ConcurrencyStamp=str(uuid.uuid4()),
                    PhoneNumberConfirmed=False,
                    TwoFactorEnabled=False,
                    LockoutEnd=self._lockout(lockout_end),
                    LockoutEnabled=lockout_enabled,
                    AccessFailedCount=0,
                )
            )
            self._set_roles(connection, user_id, roles)
        return user_id

    def change_user(self, username: str, *, roles: Iterable[str] | None = None, **values) -> None:
        """Update columns (``email``, ``password_hash``, ``metadata``, ``lockout_end``) and,
        when given, replace the user's roles."""
        columns = {
            "email": "Email",
            "password_hash": "PasswordHash",
            "metadata": "Metadata",
            "lockout_end": "LockoutEnd",
        }
        converted = {
            columns[key]: (
                self._metadata(value)
                if key == "metadata"
                else self._lockout(value)
                if key == "lockout_end"
                else value
            )
            for key, value in values.items()
        }
        with self.engine.begin() as connection:
            user_id = connection.execute(
                _USERS.select().with_only_columns(_USERS.c.Id).where(_USERS.c.UserName == username)
            ).scalar_one()
            if converted:
                connection.execute(update(_USERS).where(_USERS.c.Id == user_id).values(**converted))
            if roles is not None:
                connection.execute(delete(_USER_ROLES).where(_USER_ROLES.c.UserId == user_id))
                self._set_roles(connection, user_id, roles)

    def dispose(self) -> None:
        self.engine.dispose()

    def _set_roles(self, connection, user_id: str, roles: Iterable[str]) -> None:
        for name in roles:
            role_id = connection.execute(
                _ROLES.select().with_only_columns(_ROLES.c.Id).where(_ROLES.c.NormalizedName == name.upper())
            ).scalar()
            if role_id is None:
                role_id = str(uuid.uuid4())
                connection.execute(
                    insert(_ROLES).values(
                        Id=role_id, Name=name, NormalizedName=name.upper(), ConcurrencyStamp=str(uuid.uuid4())
                    )
                )
            connection.execute(insert(_USER_ROLES).values(UserId=user_id, RoleId=role_id))

    def _metadata(self, metadata: dict[str, Any] | str | None) -> str | None:
        if isinstance(metadata, str):
            return metadata
        if metadata is None:
            return None if self.mysql else "{}"
        return json.dumps(metadata)

    def _lockout(self, end: datetime | None):
        """EF Core's storage of a DateTimeOffset: SQLite text with the offset, MySQL UTC."""
        if end is None:
            return None
        end = end.astimezone(UTC)
        if self.mysql:
            return end.replace(tzinfo=None)
        return end.strftime("%Y-%m-%d %H:%M:%S.%f") + "0+00:00"  # 7 fraction digits, as .NET
