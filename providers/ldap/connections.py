"""Connections to a directory: failover across servers, small pools, a time budget per login.

* A server that fails to connect or to answer is skipped for ``retry_dead_after`` seconds, and
  never tried twice within one login; when every server is marked dead they are all tried
  again (the directory may be back), in configured order.
* Pools keep a few open connections so that a login costs its LDAP round trips and nothing
  more (no TCP/TLS set-up, no schema fetch: servers are created with ``get_info=NONE``).
  The service pool's connections are bound with the service account (or anonymous) and are
  used for searches only; the bind pool's connections carry user binds only.
* A pooled connection that fails is discarded and the operation is retried once on a fresh
  connection (the server may have restarted or closed an idle connection); a fresh one that
  fails marks its server dead and moves on to the next server. Connections to a fallback
  server are closed once ``retry_dead_after`` has passed, so that the preferred server gets
  its traffic back when it returns.
* :class:`LoginClock` bounds a login: no new connection or operation starts after
  ``login_timeout``, so the worst case is that plus one operation (``LdapSettings.time_budget``).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, TypeVar
from urllib.parse import urlsplit

import ldap3
from ldap3.core.exceptions import (
    LDAPCertificateError,
    LDAPCommunicationError,
    LDAPException,
    LDAPResponseTimeoutError,
    LDAPSSLConfigurationError,
    LDAPStartTLSError,
)

from ldap3.utils.config import set_config_parameter

from providers.base import ProviderUnavailable
from providers.ldap.settings import LdapSettings

log = logging.getLogger(__name__)

# ldap3 also marks a server address unusable for a while after a failed connect (5 s by
# default), refusing it without trying. Failover here has its own, configured, rule; ldap3
# compares whole elapsed seconds with ``>``, so -1 means "always try again".
set_config_parameter("RESET_AVAILABILITY_TIMEOUT", -1)

T = TypeVar("T")

# Result codes that say "the server cannot serve now", as opposed to an answer.
UNAVAILABLE_CODES = frozenset({1, 2, 3, 10, 11, 51, 52, 80})  # operationsError … other


class ServerFailure(Exception):
    """The server answered, but with something that means it cannot serve the request."""


# What says "this server cannot serve now" (as opposed to a request ldap3 refused to send).
SERVER_FAILURES = (LDAPCommunicationError, LDAPStartTLSError, LDAPCertificateError, LDAPResponseTimeoutError,
                   LDAPSSLConfigurationError, ServerFailure, OSError, ssl.SSLError)


@dataclass
class LoginClock:
    """The time budget of one login and the servers that already failed during it."""

    provider_id: str
    ends: float
    clock: Callable[[], float] = time.monotonic
    failed: set[str] = field(default_factory=set)

    def check(self) -> None:
        if self.clock() > self.ends:
            raise ProviderUnavailable(self.provider_id, "directory did not answer within the login timeout")


@dataclass
class _Server:
    url: str
    ldap3_server: ldap3.Server
    dead_until: float = 0.0


def parse_server_url(url: str) -> tuple[str, int, bool]:
    """``ldap[s]://host[:port]`` -> (host, port, use_ssl). Raises ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("ldap", "ldaps") or not parts.hostname:
        raise ValueError("must look like ldap://host[:port] or ldaps://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError("must not have a path, query, fragment or user part")
    use_ssl = parts.scheme == "ldaps"
    port = parts.port or (636 if use_ssl else 389)
    return parts.hostname, port, use_ssl


def _tls(settings: LdapSettings) -> ldap3.Tls:
    tls = settings.tls
    return ldap3.Tls(
        validate=ssl.CERT_REQUIRED,
        ca_certs_file=tls.ca_file,
        local_certificate_file=tls.client_cert_file,
        local_private_key_file=tls.client_key_file,
        # ldap3 always checks the host name when validating; '*' is its documented way out.
        valid_names=None if tls.verify_hostname else ["*"],
    )


class DirectoryServers:
    """The configured servers in failover order."""

    def __init__(self, provider_id: str, settings: LdapSettings, clock: Callable[[], float] = time.monotonic):
        self.provider_id = provider_id
        self._settings = settings
        self._clock = clock
        tls = _tls(settings)
        self._servers = []
        for url in settings.servers:
            host, port, use_ssl = parse_server_url(url)
            server = ldap3.Server(host, port=port, use_ssl=use_ssl, tls=tls, get_info=ldap3.NONE,
                                  connect_timeout=settings.connect_timeout)
            self._servers.append(_Server(url, server))

    def _candidates(self, login: LoginClock) -> list[_Server]:
        untried = [s for s in self._servers if s.url not in login.failed]
        now = self._clock()
        alive = [s for s in untried if s.dead_until <= now]
        return alive or untried

    def mark_failed(self, url: str, login: LoginClock, reason: str) -> None:
        login.failed.add(url)
        for server in self._servers:
            if server.url == url:
                if server.dead_until <= self._clock():
                    log.warning("ldap %s: server %s failed (%s); skipping it for %.0f s",
                                self.provider_id, url, reason, self._settings.retry_dead_after)
                server.dead_until = self._clock() + self._settings.retry_dead_after

    def open(self, login: LoginClock, user: str | None, password: str | None) -> "PooledConnection":
        """A new connection, StartTLS done and bound as ``user`` (left unbound, which is
        anonymous, when None), on the first server that works. Raises ProviderUnavailable
        when none does."""
        last_error = "every server already failed during this login"
        for server in self._candidates(login):
            login.check()
            connection = ldap3.Connection(
                server.ldap3_server, user=user, password=password, authentication=ldap3.SIMPLE,
                client_strategy=ldap3.SYNC, auto_bind=ldap3.AUTO_BIND_NONE, read_only=True,
                receive_timeout=int(self._settings.operation_timeout), raise_exceptions=False,
                check_names=False, auto_referrals=False, return_empty_attributes=False)
            try:
                connection.open()
                if self._settings.start_tls and not server.ldap3_server.ssl:
                    connection.start_tls()
                if user is not None and not connection.bind():
                    code = connection.result.get("result")
                    _safe_unbind(connection)
                    if code in UNAVAILABLE_CODES:
                        raise ServerFailure(f"service bind: result {code}")
                    # Wrong service credentials: a configuration error, not a dead server.
                    raise ProviderUnavailable(self.provider_id, f"service account bind refused (result {code})")
            except (*SERVER_FAILURES, LDAPException) as error:
                _safe_unbind(connection)
                last_error = describe(error)
                self.mark_failed(server.url, login, last_error)
                continue
            return PooledConnection(connection, server.url, self._clock())
        raise ProviderUnavailable(self.provider_id, f"no directory server reachable ({last_error})")

    def outlived(self, pooled: "PooledConnection") -> bool:
        """Whether a connection to a fallback server is old enough to try the preferred
        (first) servers again: failover is not forever."""
        return (pooled.server_url != self._servers[0].url
                and self._clock() - pooled.opened_at > self._settings.retry_dead_after)

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self._servers]


@dataclass
class PooledConnection:
    connection: ldap3.Connection
    server_url: str
    opened_at: float
    fresh: bool = True


class ConnectionPool:
    """Up to ``size`` idle connections bound as one principal (``user``; None = anonymous)."""

    def __init__(self, servers: DirectoryServers, size: int, user: str | None = None,
                 password: str | None = None):
        self._servers = servers
        self._size = size
        self._user = user
        self._password = password
        self._idle: list[PooledConnection] = []
        self._lock = threading.Lock()

    def run(self, login: LoginClock, operation: Callable[[ldap3.Connection], T]) -> tuple[T, str]:
        """Run ``operation`` on a pooled connection; return its result and the server URL.

        ``operation`` raises one of SERVER_FAILURES when the server failed it; that is
        retried once on a fresh connection, then reported as ProviderUnavailable.
        """
        for attempt in (1, 2):
            login.check()
            pooled = self._acquire(login)
            try:
                result = operation(pooled.connection)
            except SERVER_FAILURES as error:
                _safe_unbind(pooled.connection)
                if pooled.fresh:
                    self._servers.mark_failed(pooled.server_url, login, describe(error))
                if attempt == 2:
                    raise ProviderUnavailable(self._servers.provider_id, describe(error)) from None
                continue
            except LDAPException as error:
                # ldap3 refused to send the request: nothing wrong with the server.
                _safe_unbind(pooled.connection)
                raise ProviderUnavailable(self._servers.provider_id, describe(error)) from None
            self._release(pooled)
            return result, pooled.server_url
        raise AssertionError("unreachable")

    def _acquire(self, login: LoginClock) -> PooledConnection:
        while True:
            with self._lock:
                pooled = self._idle.pop() if self._idle else None
            if pooled is None:
                return self._servers.open(login, self._user, self._password)
            if not self._servers.outlived(pooled):
                return pooled
            _safe_unbind(pooled.connection)

    def _release(self, pooled: PooledConnection) -> None:
        pooled.fresh = False
        with self._lock:
            if len(self._idle) < self._size:
                self._idle.append(pooled)
                return
        _safe_unbind(pooled.connection)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for pooled in idle:
            _safe_unbind(pooled.connection)


def describe(error: BaseException) -> str:
    """A short, secret-free description of a connection failure for logs and traces."""
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:200] if text else type(error).__name__


def _safe_unbind(connection: ldap3.Connection) -> None:
    try:
        connection.unbind()
    except Exception:  # noqa: BLE001 - closing a broken socket may fail in any way; nothing to do
        pass
