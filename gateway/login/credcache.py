"""The verified-credentials cache of the Registry's password path (the tile hot path).

The Registry relays a GIS client's Basic credentials on every map tile and OGC request, so the
same correct username and password arrive tens to hundreds of times a second. After one full
verification (an argon2 hash, an LDAP bind, an app-password look-up), this cache remembers,
for a bounded time, that *exactly* these credentials proved *this* identity; a repeat is then
answered from that identity: the mapping still runs, the answer is built and the attempt
recorded as for any login.

What it keeps, per worker process: an HMAC-SHA256 of username and password under a random key
made in this process (never the password, never an unkeyed hash; the key never leaves the
process), pointing at the identity. Bounded by a TTL per provider and a cap on entries (least
recently used go first). Failures are never cached.

How it forgets at once: every change after which a credential must be proven again (password
set, user disabled or deleted, app password or API key revoked, sessions ended, a local user's
groups or values changed) writes a row to ``credential_changes`` in the database, in the
change's own transaction where it can. Each process reads new rows every ``poll_seconds`` and
drops the entries of the users they name, on every worker and every replica alike; and a
lookup notices at once a change made by any process of this gateway on this machine (a counter
in the instance directory that writers bump after committing, :mod:`gateway.storage.state.signal`) and
reads the rows before answering. If it cannot
read them for ``stale_after_seconds`` (a lookup past that reads them itself) it serves no hits at
all (every login is verified in full) until it can; after a longer gap it forgets everything.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from gateway.login.credchanges import CredentialChanges
from gateway.observe.metrics import count_credential_cache
from gateway.observe.periodic import PeriodicFlush
from gateway.storage.state.signal import SharedCounter
from providers.base import Identity
from providers.sql import utcnow

log = logging.getLogger(__name__)

# Each poll re-reads the changes of this last stretch of time (see CredentialChanges.since);
# a process that could not read them for longer forgets its whole cache instead of trusting
# that it missed none.
REREAD_WINDOW = timedelta(seconds=30)
FORGET_ALL_AFTER_SECONDS = 25.0


@dataclass(frozen=True)
class CacheSettings:
    """``credential_cache:`` in the configuration, plus each provider's own TTL."""

    max_entries: int = 10_000
    app_password_seconds: float = 600.0
    provider_seconds: tuple[tuple[str, float], ...] = ()

    def ttl_for(self, provider: str, app_password: bool) -> float:
        """How long a login proven through ``provider`` may be answered from the cache; 0 never.
        An app password of a user whose provider checks no passwords (an IdP) has the app
        password TTL; otherwise the shorter of the two applies."""
        own = dict(self.provider_seconds).get(provider)
        if not app_password:
            return own or 0.0
        return self.app_password_seconds if own is None else min(own, self.app_password_seconds)


@dataclass(frozen=True)
class _Entry:
    username: str
    identity: Identity
    expires: float


class VerifiedCredentials:
    """The per-process cache (see the module docstring). Thread-safe."""

    def __init__(
        self,
        changes: CredentialChanges,
        settings: CacheSettings,
        *,
        signal: SharedCounter | None = None,
        poll_seconds: float = 0.25,
        stale_after_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        """``signal``: this machine's change counter; a lookup that finds it bumped reads the
        changes first, so on one machine a change is seen by the next login on every worker,
        not up to ``poll_seconds`` later."""
        self._changes = changes
        self._signal = signal
        self._signal_seen: int | None = None
        self.settings = settings
        self._poll_seconds = poll_seconds
        self._stale_after = stale_after_seconds
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict[bytes, _Entry] = collections.OrderedDict()
        self._by_user: dict[str, set[bytes]] = {}
        self._seen: set[int] = set()  # ids of the rows in the re-read window, handled
        self._max_id: int | None = None  # the highest row id read
        self._fresh_until = 0.0
        self._last_read: float | None = None
        self._generation = 0
        self._polls = 0
        self._poller = PeriodicFlush(self.poll, poll_seconds, "credential-cache", at_exit=False)

    @property
    def enabled(self) -> bool:
        return self.settings.max_entries > 0 and (
            self.settings.app_password_seconds > 0
            or any(ttl > 0 for _, ttl in self.settings.provider_seconds)
        )

    def lookup(self, username: str, password: str) -> Identity | None:
        """The identity these exact credentials proved within their TTL, or None."""
        self._poller.ensure_running()
        if self._signal is not None:
            bumped = self._signal.value()
            if bumped != self._signal_seen:
                if not self.poll():
                    return self._miss()  # no hits until the changes can be read
                self._signal_seen = bumped
        if self._clock() > self._fresh_until and not self.poll():
            # The background read is late (a starved thread on a busy machine) and the
            # changes cannot be read now either: verify in full until they can.
            return self._miss()
        digest = self._digest(username, password)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is not None and entry.expires > self._clock():
                self._entries.move_to_end(digest)
                count_credential_cache("hit")
                return entry.identity
            if entry is not None:
                self._forget(digest)
        return self._miss()

    def _miss(self) -> Identity | None:
        count_credential_cache("miss")
        return None

    def generation(self) -> int:
        """Take before verifying; pass to :meth:`remember`."""
        return self._generation

    def remember(
        self,
        username: str,
        password: str,
        identity: Identity,
        *,
        app_password: bool,
        generation: int,
        valid_until: datetime | None = None,
    ) -> None:
        """Keep a successful verification for its provider's TTL, cut short at ``valid_until``
        (an app password's expiry); unless a change was read since ``generation`` (the
        verification may have used what that change replaced) or the TTL is 0."""
        ttl = self.settings.ttl_for(identity.provider, app_password)
        if valid_until is not None:
            ttl = min(ttl, (valid_until - utcnow()).total_seconds())
        if ttl <= 0 or self.settings.max_entries <= 0:
            return
        digest = self._digest(username, password)
        with self._lock:
            if generation != self._generation:
                return
            if digest in self._entries:
                self._forget(digest)
            self._entries[digest] = _Entry(username, identity, self._clock() + ttl)
            self._by_user.setdefault(username, set()).add(digest)
            while len(self._entries) > self.settings.max_entries:
                self._forget(next(iter(self._entries)))
                count_credential_cache("eviction")

    def poll(self) -> bool:
        """Read the changes recorded lately and forget whom the new ones name; False when they
        could not be read."""
        now, wall = self._clock(), utcnow()  # before reading: freshness counts from here
        try:
            if self._max_id is None:
                self._max_id = self._changes.newest_id()
            rows = self._changes.since(wall - REREAD_WINDOW, self._max_id)
        except SQLAlchemyError as error:
            log.warning(
                "credential cache: cannot read credential changes (%s); serving no cached logins meanwhile",
                type(error).__name__,
            )
            return False
        self._polls += 1
        if self._polls % 2400 == 1:  # about every ten minutes at the default interval
            self._prune()
        with self._lock:
            self._max_id = max([self._max_id or 0, *(row_id for row_id, _ in rows)])
            first_or_late = self._last_read is None or now - self._last_read > FORGET_ALL_AFTER_SECONDS
            new = [(row_id, username) for row_id, username in rows if row_id not in self._seen]
            self._seen = {row_id for row_id, _ in rows}
            usernames = [None] if first_or_late else [username for _, username in new]
            self._last_read = now
            if usernames:
                self._generation += 1
                self._invalidate(usernames)
            self._fresh_until = now + self._stale_after
        return True

    def _prune(self) -> None:
        try:
            self._changes.prune()
        except SQLAlchemyError as error:
            log.warning("credential cache: cannot prune credential changes (%s)", type(error).__name__)

    def stop(self) -> None:
        """Stop reading changes (the process is shutting these services down)."""
        self._poller.stop()

    def clear(self) -> None:
        """Forget everything (e.g. the providers' configuration changed)."""
        with self._lock:
            self._generation += 1
            self._invalidate([None])

    def _invalidate(self, usernames: Iterable[str | None]) -> None:
        for username in set(usernames):
            if username is None:
                dropped = len(self._entries)
                self._entries.clear()
                self._by_user.clear()
            else:
                digests = self._by_user.pop(username, set())
                for digest in digests:
                    self._entries.pop(digest, None)
                dropped = len(digests)
            if dropped:
                count_credential_cache("invalidation", dropped)

    def _forget(self, digest: bytes) -> None:
        entry = self._entries.pop(digest)
        digests = self._by_user.get(entry.username)
        if digests is not None:
            digests.discard(digest)
            if not digests:
                del self._by_user[entry.username]

    def _digest(self, username: str, password: str) -> bytes:
        message = (
            username.encode("utf-8", "surrogatepass") + b"\x00" + password.encode("utf-8", "surrogatepass")
        )
        return hmac.new(self._key, message, hashlib.sha256).digest()
