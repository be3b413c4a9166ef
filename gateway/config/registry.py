"""The ``registry:`` configuration section: where the Registry's admin API is and how to reach it.

::

    registry:
      url: https://hub.example.org          # the Registry's base URL (http or https)
      service_account:
        username: gateway-sync              # a gateway user whose answer carries the admin role
        password_env: REGISTRY_SYNC_PASSWORD  # or password: ${REGISTRY_SYNC_PASSWORD}
      ca_file: /etc/ssl/registry-ca.pem     # optional: trust this CA bundle for https
      verify_tls: true                      # default; false only for a test Registry
      connect_timeout_seconds: 5
      read_timeout_seconds: 15
      renew_before_seconds: 300             # renew the admin JWT this long before it expires
      organizations:
        create_missing: false               # create an organization a rule grants, if absent
      storage_refresh_seconds: 300          # how often storage usage is read (GET /users/detailed)
      on_delete: deactivate                 # or delete (deletes the user's organizations too)
      sync: {enabled: true, interval_seconds: 900}   # the periodic directory sync
      deliver: {batch: 20, lease_seconds: 60}        # how the outbox claims its rows

:func:`parse_registry_settings` turns the plain mapping (after the file's ``${VAR}``
expansion) into a frozen :class:`RegistrySettings` (how to reach the Registry), or raises
:class:`ConfigError` naming the dotted key; :func:`parse_registry_config` gives the whole
section (:class:`RegistryConfig`). The password never appears in an error message or in ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.config.errors import ConfigError

SECTION = "registry"
_KEYS = {
    "url",
    "service_account",
    "ca_file",
    "verify_tls",
    "connect_timeout_seconds",
    "read_timeout_seconds",
    "renew_before_seconds",
    "organizations",
    "storage_refresh_seconds",
    "on_delete",
    "sync",
    "deliver",
}
ON_DELETE = ("deactivate", "delete")
_ORGANIZATION_KEYS = {"create_missing"}
_ACCOUNT_KEYS = {"username", "password", "password_env"}


@dataclass(frozen=True)
class RegistrySettings:
    """How to reach the Registry's admin API (validated; ``url`` has no trailing slash)."""

    url: str
    username: str
    password: str = field(repr=False)
    ca_file: str | None = None
    verify_tls: bool = True
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 15.0
    renew_before_seconds: int = 300
    create_missing_organizations: bool = False
    storage_refresh_seconds: int = 300

    @property
    def verify(self) -> bool | str:
        """The value for ``requests``' ``verify``: the CA bundle, or the verification switch."""
        return self.ca_file if self.ca_file is not None else self.verify_tls

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` for ``requests``."""
        return (self.connect_timeout_seconds, self.read_timeout_seconds)


@dataclass(frozen=True)
class RegistryConfig:
    """The whole ``registry:`` section: how to reach the Registry, and what the gateway does
    with it. ``on_delete``: ``deactivate`` (default) or ``delete`` the Registry account of a
    user deleted at the gateway. ``deliver_*``: rows
    the outbox claims per round and how long a claim holds."""

    settings: RegistrySettings
    on_delete: str = "deactivate"
    deliver_batch: int = 20
    deliver_lease_seconds: float = 60.0

    @property
    def delete_accounts(self) -> bool:
        return self.on_delete == "delete"


def parse_registry_config(
    data: Any, source: str = "config", environ: Mapping[str, str] | None = None
) -> RegistryConfig | None:
    """The validated section, or None when it is absent (the gateway then never writes to the
    Registry). Raises ConfigError(source, "registry.<key>", message)."""
    if data is None:
        return None
    if isinstance(data, Mapping) and set(data) <= {"sync"}:
        return None  # only the directory sync (gateway.config.registrysync): no Registry client
    settings = parse_registry_settings(data, source, environ)
    if settings is None:
        return None
    on_delete = data.get("on_delete", "deactivate")
    if on_delete not in ON_DELETE:
        raise ConfigError(source, f"{SECTION}.on_delete", "must be deactivate or delete")
    deliver = _subsection(data, "deliver", {"batch", "lease_seconds"}, source)
    return RegistryConfig(
        settings=settings,
        on_delete=on_delete,
        deliver_batch=_whole(deliver, "deliver.batch", 20, 1, 1000, source),
        deliver_lease_seconds=float(_whole(deliver, "deliver.lease_seconds", 60, 10, 3600, source)),
    )


def _subsection(data: Mapping, key: str, allowed: set[str], source: str) -> Mapping:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(source, f"{SECTION}.{key}", "must be a mapping")
    _no_unknown_keys(value, allowed, source, f"{SECTION}.{key}")
    return value


def _whole(data: Mapping, dotted: str, default: int, low: int, high: int, source: str) -> int:
    value = data.get(dotted.rpartition(".")[2], default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(source, f"{SECTION}.{dotted}", f"must be a whole number from {low} to {high}")
    return value


def parse_registry_settings(
    data: Any, source: str = "config", environ: Mapping[str, str] | None = None
) -> RegistrySettings | None:
    """The validated section, or None when it is absent (``None``: no Registry client).

    Raises ConfigError(source, "registry.<key>", message) for an unknown key, a missing
    required key or a bad value.
    """
    if data is None:
        return None
    environ = os.environ if environ is None else environ
    where = SECTION
    if not isinstance(data, Mapping):
        raise ConfigError(source, where, "must be a mapping")
    _no_unknown_keys(data, _KEYS, source, where)

    url = _url(data.get("url"), source, f"{where}.url")
    username, password = _service_account(data.get("service_account"), source, environ)
    verify_tls = data.get("verify_tls", True)
    if not isinstance(verify_tls, bool):
        raise ConfigError(source, f"{where}.verify_tls", "must be true or false")
    ca_file = data.get("ca_file")
    if ca_file is not None:
        if not isinstance(ca_file, str) or not ca_file:
            raise ConfigError(source, f"{where}.ca_file", "must be the path of a CA bundle file")
        if not Path(ca_file).is_file():
            raise ConfigError(source, f"{where}.ca_file", f"no such file: {ca_file}")
        if not verify_tls:
            raise ConfigError(source, f"{where}.ca_file", "cannot be used with verify_tls: false")
    return RegistrySettings(
        url=url,
        username=username,
        password=password,
        ca_file=ca_file,
        verify_tls=verify_tls,
        connect_timeout_seconds=_seconds(data, "connect_timeout_seconds", 5.0, 60, source),
        read_timeout_seconds=_seconds(data, "read_timeout_seconds", 15.0, 300, source),
        renew_before_seconds=int(_seconds(data, "renew_before_seconds", 300, 86400, source, whole=True)),
        create_missing_organizations=_create_missing(data.get("organizations"), source),
        storage_refresh_seconds=_refresh_seconds(data, source),
    )


def _create_missing(value: Any, source: str) -> bool:
    where = f"{SECTION}.organizations"
    if value is None:
        return False
    if not isinstance(value, Mapping):
        raise ConfigError(source, where, "must be a mapping (create_missing)")
    _no_unknown_keys(value, _ORGANIZATION_KEYS, source, where)
    create = value.get("create_missing", False)
    if not isinstance(create, bool):
        raise ConfigError(source, f"{where}.create_missing", "must be true or false")
    return create


def _refresh_seconds(data: Mapping, source: str) -> int:
    seconds = int(_seconds(data, "storage_refresh_seconds", 300, 86400, source, whole=True))
    if seconds < 30:
        raise ConfigError(source, f"{SECTION}.storage_refresh_seconds", "must be at least 30")
    return seconds


def _no_unknown_keys(data: Mapping, allowed: set[str], source: str, where: str) -> None:
    for key in data:
        if key not in allowed:
            raise ConfigError(source, f"{where}.{key}", f"unknown key; allowed: {', '.join(sorted(allowed))}")


def _url(value: Any, source: str, key: str) -> str:
    if value is None:
        raise ConfigError(source, key, "is required")
    if not isinstance(value, str):
        raise ConfigError(source, key, "must be a URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(source, key, "must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(source, key, "must have no query, fragment or credentials")
    return value.rstrip("/")


def _service_account(value: Any, source: str, environ: Mapping[str, str]) -> tuple[str, str]:
    where = f"{SECTION}.service_account"
    if value is None:
        raise ConfigError(source, where, "is required")
    if not isinstance(value, Mapping):
        raise ConfigError(source, where, "must be a mapping with username and password_env (or password)")
    _no_unknown_keys(value, _ACCOUNT_KEYS, source, where)
    username = value.get("username")
    if not isinstance(username, str) or not username.strip():
        raise ConfigError(source, f"{where}.username", "is required (a non-empty string)")
    if ("password" in value) == ("password_env" in value):
        raise ConfigError(source, where, "needs exactly one of password_env or password")
    if "password_env" in value:
        name = value["password_env"]
        if not isinstance(name, str) or not name:
            raise ConfigError(source, f"{where}.password_env", "must name an environment variable")
        password = environ.get(name)
        if not password:
            raise ConfigError(source, f"{where}.password_env", f"environment variable {name} is not set")
        return username, password
    password = value["password"]
    if not isinstance(password, str) or not password:
        raise ConfigError(source, f"{where}.password", "must be a non-empty string")
    return username, password


def _seconds(
    data: Mapping, key: str, default: float, maximum: float, source: str, *, whole: bool = False
) -> float:
    value = data.get(key, default)
    kinds = "a whole number" if whole else "a number"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or (whole and not isinstance(value, int)):
        raise ConfigError(source, f"{SECTION}.{key}", f"must be {kinds} of seconds")
    low_ok = value >= 0 if whole else value > 0
    if not low_ok or value > maximum:
        bound = "0" if whole else "more than 0"
        raise ConfigError(source, f"{SECTION}.{key}", f"must be {bound} and at most {maximum:g}")
    return float(value)
