"""Deployment settings from the environment (and a ``.env`` file, if present).

Every variable is listed in ``.env.example``. Secrets come only from here, never from a file
in the repository.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gateway.config.errors import ConfigError, raise_all

ENV = "environment"
V = TypeVar("V")


@dataclass(frozen=True)
class Settings:
    instance_dir: Path
    database_url: str
    config_path: Path | None
    redis_url: str | None
    key_encryption_key: str
    admin_password: str | None
    bind: str
    workers: int
    threads: int
    log_level: str
    public_url: str
    auto_migrate: bool
    metrics_token: str | None = None
    # False when GATEWAY_PUBLIC_URL is set: the public URL then stays put whatever the bind.
    public_url_follows_bind: bool = False
    # Networks whose X-Forwarded-For the gateway believes, for the client address it records
    # (GATEWAY_TRUSTED_PROXIES); empty: the peer address is the client address.
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_bind(self, bind: str) -> Settings:
        """These settings listening on ``bind``; the public URL moves with it unless
        GATEWAY_PUBLIC_URL set it."""
        public_url = public_url_for_bind(bind) if self.public_url_follows_bind else self.public_url
        return dataclasses.replace(self, bind=bind, public_url=public_url)


WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")


def public_url_for_bind(bind: str) -> str:
    """The URL a browser on this machine opens to reach a gateway listening on ``bind``
    (``host:port``): ``http://<host>:<port>``, with ``localhost`` for a wildcard address."""
    host, separator, port = bind.rpartition(":")
    if not separator or host.startswith("unix"):
        return f"http://{bind}"
    if host in WILDCARD_HOSTS:
        host = "localhost"
    return f"http://{host}:{port}"


def environment(read_dotenv: bool = True) -> Mapping[str, str]:
    """The process environment, with the ``.env`` file (GATEWAY_DOTENV) read into it first
    when ``read_dotenv``; a variable already set wins over the file."""
    if read_dotenv:
        from dotenv import load_dotenv

        load_dotenv(os.environ.get("GATEWAY_DOTENV", ".env"), override=False)
    return os.environ


def config_path_of(environ: Mapping[str, str]) -> Path | None:
    """The configuration file GATEWAY_CONFIG names; None when it is unset or empty."""
    value = environ.get("GATEWAY_CONFIG")
    return Path(value) if value else None


def load_settings(environ: Mapping[str, str] | None = None, *, read_dotenv: bool = True) -> Settings:
    """Read and validate settings. Every variable is checked: one wrong variable raises
    ConfigError naming it, several raise ConfigErrors listing each."""
    if environ is None:
        environ = environment(read_dotenv)
    get = lambda name, default=None: environ.get(name) or default  # noqa: E731
    found: list[ConfigError] = []

    def checked(check: Callable[..., V], *args: Any, fallback: V) -> V:
        """``check(*args)``, or ``fallback`` with its problem noted: every variable is checked."""
        try:
            return check(*args)
        except ConfigError as error:
            found.extend(error.errors)
            return fallback

    instance_dir = Path(get("GATEWAY_INSTANCE_DIR", "instance")).resolve()
    database_url = get("GATEWAY_DATABASE_URL") or f"sqlite:///{instance_dir / 'gateway.db'}"
    database_ok = database_url.startswith(("sqlite", "postgresql"))
    if not database_ok:
        found.append(
            ConfigError(ENV, "GATEWAY_DATABASE_URL", "must be a sqlite:// or postgresql+psycopg:// URL")
        )
    bind = get("GATEWAY_BIND", "127.0.0.1:8080")
    workers = checked(_workers, get("GATEWAY_WORKERS", "auto"), fallback=1)
    threads = checked(_int, get("GATEWAY_THREADS", "4"), "GATEWAY_THREADS", 1, 64, fallback=4)
    log_level = checked(
        _choice,
        get("GATEWAY_LOG_LEVEL", "INFO").upper(),
        "GATEWAY_LOG_LEVEL",
        ("DEBUG", "INFO", "WARNING", "ERROR"),
        fallback="INFO",
    )
    auto_migrate = checked(_bool, get("GATEWAY_AUTO_MIGRATE", "true"), "GATEWAY_AUTO_MIGRATE", fallback=True)
    # The key's rule depends on the database; a wrong database URL is reported on its own.
    key_encryption_key = (
        checked(
            _key_encryption_key, get("GATEWAY_KEY_ENCRYPTION_KEY"), database_url, instance_dir, fallback=""
        )
        if database_ok
        else ""
    )
    metrics_token = checked(_metrics_token, get("GATEWAY_METRICS_TOKEN"), fallback=None)
    no_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    trusted_proxies = checked(
        _networks, get("GATEWAY_TRUSTED_PROXIES", ""), "GATEWAY_TRUSTED_PROXIES", fallback=no_networks
    )
    raise_all(found)
    return Settings(
        instance_dir=instance_dir,
        database_url=database_url,
        config_path=config_path_of(environ),
        redis_url=get("GATEWAY_REDIS_URL"),
        key_encryption_key=key_encryption_key,
        admin_password=get("GATEWAY_ADMIN_PASSWORD"),
        bind=bind,
        workers=workers,
        threads=threads,
        log_level=log_level,
        public_url=get("GATEWAY_PUBLIC_URL", public_url_for_bind(bind)).rstrip("/"),
        auto_migrate=auto_migrate,
        metrics_token=metrics_token,
        public_url_follows_bind=not get("GATEWAY_PUBLIC_URL"),
        trusted_proxies=trusted_proxies,
    )


def _networks(raw: str, name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """A comma-separated list of addresses or CIDR networks (``10.0.0.0/8, ::1``)."""
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(ENV, name, f"{item!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def _key_encryption_key(value: str | None, database_url: str, instance_dir: Path) -> str:
    if value:
        if len(value) < 32:
            raise ConfigError(ENV, "GATEWAY_KEY_ENCRYPTION_KEY", "must be at least 32 characters")
        return value
    if not database_url.startswith("sqlite"):
        raise ConfigError(
            ENV,
            "GATEWAY_KEY_ENCRYPTION_KEY",
            "is required with an external database (generate one: gateway keys secret)",
        )
    # Embedded default: a key file beside the database, created once with owner-only access.
    key_file = instance_dir / "key-encryption.key"
    if not key_file.exists():
        instance_dir.mkdir(parents=True, exist_ok=True)
        # Written whole to a private temp file, then linked into place: a process starting at
        # the same moment sees either no key file or a complete one, never an empty one.
        descriptor, temp_path = tempfile.mkstemp(dir=instance_dir, prefix=".key-")
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
            try:
                os.link(temp_path, key_file)
            except FileExistsError:
                pass  # another process created it first; use theirs
        finally:
            os.unlink(temp_path)
    key = key_file.read_text().strip()
    if len(key) < 32:  # an empty or truncated file must not become a weak key
        raise ConfigError(
            str(key_file),
            "(file)",
            "holds fewer than 32 characters; restore it or set GATEWAY_KEY_ENCRYPTION_KEY",
        )
    return key


def _metrics_token(value: str | None) -> str | None:
    # A Secret made from a file usually ends in a newline; the presented token is stripped too.
    value = value.strip() if value is not None else None
    if not value:
        return None
    if len(value) < 16:
        raise ConfigError(ENV, "GATEWAY_METRICS_TOKEN", "must be at least 16 characters")
    return value


def usable_cores() -> int:
    """The CPU cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _workers(raw: str) -> int:
    """GATEWAY_WORKERS: a number, or ``auto`` (the default): one worker process per usable
    core, at most 16; each runs GATEWAY_THREADS threads."""
    if raw.strip().lower() == "auto":
        return min(16, usable_cores())
    return _int(raw, "GATEWAY_WORKERS", 1, 64)


def _int(raw: str, name: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(ENV, name, f"must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(ENV, name, f"must be between {low} and {high}")
    return value


def _bool(raw: str, name: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(ENV, name, f"must be true or false, got {raw!r}")


def _choice(raw: str, name: str, allowed: tuple[str, ...]) -> str:
    if raw not in allowed:
        raise ConfigError(ENV, name, f"must be one of {', '.join(allowed)}")
    return raw
