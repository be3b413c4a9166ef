"""Connections to a directory: failover across servers, small pools, a time budget per login.

* A server that fails to connect or to answer is skipped for ``retry_dead_after`` seconds, and
  never tried twice within one login. When every server is marked dead, logins fail at once
  (a circuit breaker: no thread waits on a dead directory) until the first one's time is up
  and a login probes it again.
* Pools keep a few open connections so that a login costs its LDAP round trips and nothing
  more (no TCP/TLS set-up, no schema fetch: servers are created with ``get_info=NONE``).
  The service pool's connections are bound with the service account (or anonymous) and are
  used for searches only; the bind pool's connections carry user binds only.
* A pooled connection that fails is discarded, with every idle connection to the same server,
  and the operation is retried once on a fresh connection (the server may have restarted or
  closed idle connections); a fresh one that fails marks its server dead and moves on to the
  next server. Connections idle longer than ``pool_max_idle`` are not reused, as servers and
  firewalls drop idle connections silently.
* A server that *answers* with a refusal (a time or size limit, a referral, a bind it will
  not do) is working: the login gets a 503, and nothing is marked dead. Connections to a fallback
  server are closed once ``retry_dead_after`` has passed, so that the preferred server gets
  its traffic back when it returns.
* :class:`LoginClock` bounds a login: no connect, StartTLS, bind, operation or further page
  starts after ``login_timeout``, so the worst case is that plus one such step
  (``LdapSettings.time_budget``). Each server URL is connected at its first address only.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
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

# Result codes that say "this server cannot serve now": busy, unavailable.
UNAVAILABLE_CODES = frozenset({51, 52})


class ServerFailure(Exception):
    """The server answered, but with something that means it cannot serve now (busy,
    unavailable): treated like a dead server."""


class ServerRefused(Exception):
    """The server is working but refused this request (a limit, a referral, a bind it will
    not do): a 503 for this login, nothing marked dead, the connection stays usable."""


# What says "this server cannot serve now" (as opposed to a request ldap3 refused to send).
SERVER_FAILURES = (
    LDAPCommunicationError,
    LDAPStartTLSError,
    LDAPCertificateError,
    LDAPResponseTimeoutError,
    LDAPSSLConfigurationError,
    ServerFailure,
    OSError,
    ssl.SSLError,
)


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
    host: str
    port: int
    use_ssl: bool
    tls: ldap3.Tls
    dead_until: float = 0.0

    def ldap3_server(self, settings: LdapSettings) -> ldap3.Server:
        # One per connection: ldap3.Server keeps per-connect state (current_address) that
        # threads sharing it would overwrite.
        return ldap3_server(self.host, self.port, self.use_ssl, self.tls, settings)


def ldap3_server(host: str, port: int, use_ssl: bool, tls: ldap3.Tls, settings: LdapSettings) -> ldap3.Server:
    """The ldap3 server object every connection to ``host`` uses: no schema or root DSE reads
    (get_info=NONE), the configured connect timeout, the system's address order."""
    return ldap3.Server(
        host,
        port=port,
        use_ssl=use_ssl,
        tls=tls,
        get_info=ldap3.NONE,
        connect_timeout=settings.connect_timeout,
        mode=ldap3.IP_SYSTEM_DEFAULT,
    )


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


def tls_for(settings: LdapSettings, host: str) -> ldap3.Tls:
    """The TLS set-up of a connection to ``host``: certificates always verified."""
    tls = settings.tls
    return ldap3.Tls(
        validate=ssl.CERT_REQUIRED,
        ca_certs_file=tls.ca_file,
        local_certificate_file=tls.client_cert_file,
        local_private_key_file=tls.client_key_file,
        # ldap3 always checks the host name when validating; '*' is its documented way out.
        valid_names=None if tls.verify_hostname else ["*"],
        sni=host,
    )


class DirectoryServers:
    """The configured servers in failover order."""

    def __init__(self, provider_id: str, settings: LdapSettings, clock: Callable[[], float] = time.monotonic):
        self.provider_id = provider_id
        self._settings = settings
        self._clock = clock
        self._servers = []
        for url in settings.servers:
            host, port, use_ssl = parse_server_url(url)
            self._servers.append(_Server(url, host, port, use_ssl, tls_for(settings, host)))
        self._by_url = {server.url: server for server in self._servers}

    def _candidates(self, login: LoginClock) -> list[_Server]:
        now = self._clock()
        alive = [s for s in self._servers if s.url not in login.failed and s.dead_until <= now]
        if not alive and not login.failed:
            soonest = min(s.dead_until for s in self._servers) - now
            raise ProviderUnavailable(
                self.provider_id,
                f"every directory server failed recently; the next is tried again in {soonest:.1f} s",
            )
        return alive

    def mark_failed(self, url: str, login: LoginClock, reason: str) -> None:
        login.failed.add(url)
        server = self._by_url[url]
        if server.dead_until <= self._clock():
            log.warning(
                "ldap %s: server %s failed (%s); skipping it for %.0f s",
                self.provider_id,
                url,
                reason,
                self._settings.retry_dead_after,
            )
        server.dead_until = self._clock() + self._settings.retry_dead_after

    def open(self, login: LoginClock, user: str | None, password: str | None) -> PooledConnection:
        """A new connection, StartTLS done and bound as ``user`` (left unbound, which is
        anonymous, when None), on the first server that works. Raises ProviderUnavailable
        when none does."""
        last_error = "every server already failed during this login"
        for server in self._candidates(login):
            login.check()
            connection = ldap3.Connection(
                server.ldap3_server(self._settings),
                user=user,
                password=password,
                authentication=ldap3.SIMPLE,
                client_strategy=ldap3.SYNC,
                auto_bind=ldap3.AUTO_BIND_NONE,
                read_only=True,
                receive_timeout=int(self._settings.operation_timeout),
                raise_exceptions=False,
                check_names=False,
                auto_referrals=False,
                return_empty_attributes=False,
            )
            try:
                connection.open()
                if self._settings.start_tls and not server.use_ssl:
                    login.check()
                    connection.start_tls()
                if user is not None:
                    login.check()
                    if not connection.bind():
                        code = connection.result.get("result")
                        if code in UNAVAILABLE_CODES:
                            raise ServerFailure(f"service bind: result {code}")
                        # Wrong service credentials: a configuration error, not a dead server.
                        _safe_unbind(connection)
                        raise ProviderUnavailable(
                            self.provider_id, f"service account bind refused (result {code})"
                        )
            except (*SERVER_FAILURES, LDAPException) as error:
                _safe_unbind(connection)
                last_error = describe(error)
                self.mark_failed(server.url, login, last_error)
                continue
            now = self._clock()
            return PooledConnection(connection, server.url, now, now)
        raise ProviderUnavailable(self.provider_id, f"no directory server reachable ({last_error})")

    def reusable(self, pooled: PooledConnection, login: LoginClock) -> bool:
        """Whether an idle connection may serve this login: not idle too long, its server not
        failed, and (failover is not forever) not a fallback server's once ``retry_dead_after``
        has passed, so that the preferred server gets its traffic back."""
        now = self._clock()
        if now - pooled.last_used > self._settings.pool_max_idle or pooled.server_url in login.failed:
            return False
        if self._by_url[pooled.server_url].dead_until > now:
            return False
        return (
            pooled.server_url == self._servers[0].url
            or now - pooled.opened_at <= self._settings.retry_dead_after
        )

    def now(self) -> float:
        return self._clock()

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self._servers]


@dataclass
class PooledConnection:
    connection: ldap3.Connection
    server_url: str
    opened_at: float
    last_used: float
    fresh: bool = True


class ConnectionPool:
    """Up to ``size`` idle connections bound as one principal (``user``; None = anonymous)."""

    def __init__(
        self, servers: DirectoryServers, size: int, user: str | None = None, password: str | None = None
    ):
        self._servers = servers
        self._size = size
        self._user = user
        self._password = password
        self._idle: list[PooledConnection] = []
        self._lock = threading.Lock()

    def run(self, login: LoginClock, operation: Callable[[ldap3.Connection], T]) -> tuple[T, str]:
        """Run ``operation`` on a pooled connection; return its result and the server URL.

        ``operation`` raises one of SERVER_FAILURES when the server failed it: that is retried
        once on a fresh connection, then reported as ProviderUnavailable. ServerRefused is
        reported at once, and the connection stays in the pool.
        """
        pooled = self._acquire(login)
        for attempt in (1, 2):
            try:
                result = operation(pooled.connection)
            except SERVER_FAILURES as error:
                _safe_unbind(pooled.connection)
                self._discard_idle(pooled.server_url)  # restarted or dropped: the rest are stale too
                if pooled.fresh:
                    self._servers.mark_failed(pooled.server_url, login, describe(error))
                if attempt == 2:
                    raise ProviderUnavailable(self._servers.provider_id, describe(error)) from None
                login.check()
                pooled = self._servers.open(login, self._user, self._password)
                continue
            except ServerRefused as refused:
                self._release(pooled)
                raise ProviderUnavailable(self._servers.provider_id, str(refused)) from None
            except LDAPException as error:
                # ldap3 refused to send the request: nothing wrong with the server.
                _safe_unbind(pooled.connection)
                raise ProviderUnavailable(self._servers.provider_id, describe(error)) from None
            self._release(pooled)
            return result, pooled.server_url
        raise AssertionError("unreachable")

    def _acquire(self, login: LoginClock) -> PooledConnection:
        login.check()
        while True:
            with self._lock:
                pooled = self._idle.pop() if self._idle else None
            if pooled is None:
                return self._servers.open(login, self._user, self._password)
            if self._servers.reusable(pooled, login):
                return pooled
            _safe_unbind(pooled.connection)

    def _release(self, pooled: PooledConnection) -> None:
        pooled.fresh = False
        pooled.last_used = self._servers.now()
        with self._lock:
            if len(self._idle) < self._size:
                self._idle.append(pooled)
                return
        _safe_unbind(pooled.connection)

    def _discard_idle(self, server_url: str) -> None:
        with self._lock:
            stale = [p for p in self._idle if p.server_url == server_url]
            self._idle = [p for p in self._idle if p.server_url != server_url]
        for pooled in stale:
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
    except Exception:
        pass
