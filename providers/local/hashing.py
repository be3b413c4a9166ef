"""argon2id hashing on a small dedicated thread pool, so memory stays bounded under bursts.

Defaults follow OWASP's password storage guidance for argon2id: 19 MiB, 2 passes, 1 lane.

Each argon2 call allocates ``memory_cost`` KiB. Running it on the request threads would let
glibc keep one such buffer resident per request thread (each thread gets its own malloc arena),
so a burst would grow memory with the thread count even if only two hashes ran at once. All
hashing therefore runs on ``slots`` dedicated threads: resident argon2 memory is bounded by
``slots × memory_cost``. A request that cannot get a slot within ``wait_seconds`` turns into
ProviderUnavailable (503) rather than an unbounded queue.

Users imported from a DroneDB Registry keep their ASP.NET Core Identity (PBKDF2) hashes until
their first successful login (:mod:`providers.local.aspnet`); those are verified on the same
pool. Every failed verification (a wrong password, an unknown user's dummy hash, a wrong
password against an imported hash) lasts as long as the slower kind of verification takes in
this process (moving averages of the time spent hashing), so none of them can be told apart by
timing. ``needs_rehash`` is True for them, so the login
replaces them with argon2id.

Passwords are hashed in their NFKC form (:mod:`providers.local.normalise`). A hash cannot tell
whether it was made from the normalised or the typed spelling, and hashes made before the
gateway normalised, like imported Registry hashes, were made from the typed one. Rather than
mark hashes with a version (a migration, and a column every other hash writer must keep
right), :meth:`CappedHasher.check` tries both spellings when they differ: the normalised one
first for argon2 (what the gateway writes), the typed one first for an imported hash (what
the Registry wrote). A match by the spelling the gateway would not write now says
``rehash``, and the login stores an argon2id hash of the normalised password. The second
attempt is made only for a password that NFKC changes, which is a property of what was typed,
not of the account: a failed check is padded to (attempts × the slowest kind of
verification), whatever the user and whatever kind of hash they have, so timing still tells
nothing about either.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, NamedTuple, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from providers.base import ProviderUnavailable
from providers.local.aspnet import parse_aspnet_identity_hash, verify_parsed
from providers.local.normalise import normalise_password

T = TypeVar("T")


class Verification(NamedTuple):
    matched: bool
    rehash: bool  # matched, and the stored hash should be replaced (see the module docstring)


def _timed(check: Callable[..., bool], *args: Any) -> tuple[bool, float]:
    started = time.perf_counter()
    return check(*args), time.perf_counter() - started


class CappedHasher:
    """Hashes and verifies passwords, at most ``slots`` at a time in this process."""

    def __init__(
        self,
        provider_id: str,
        *,
        slots: int = 2,
        wait_seconds: float = 10.0,
        time_cost: int = 2,
        memory_cost: int = 19456,
        parallelism: int = 1,
    ):
        self._provider_id = provider_id
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
        self._slots = threading.BoundedSemaphore(slots)
        self._slot_count = slots
        self._wait_seconds = wait_seconds
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        # Hashed on the constructing thread: no pool threads exist before a fork.
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        # How long a verification takes here, for argon2 and for imported Registry hashes
        # (moving averages of the time spent hashing): every failed verification lasts as long
        # as the slower of the two, so a wrong password, an unknown user and an imported user
        # who has not logged in yet cannot be told apart by timing.
        started = time.perf_counter()
        self._verify_argon2(self._dummy_hash, "")
        self._argon2_seconds = time.perf_counter() - started
        self._legacy_seconds = 0.0

    def hash(self, password: str) -> str:
        """An argon2id hash of the NFKC form of ``password``."""
        normalised = normalise_password(password)
        return self._run(lambda: self._hasher.hash(normalised))

    def verify(self, stored_hash: str, password: str) -> bool:
        """True when ``password`` matches an argon2 hash, or an imported ASP.NET Core Identity
        hash; False for a mismatch or an unreadable hash, after as long as the slowest kind of
        verification takes here."""
        return self._matching_spelling(stored_hash, password) is not None

    def check(self, stored_hash: str, password: str) -> Verification:
        """Whether ``password`` matches ``stored_hash`` in its NFKC or its typed spelling, and
        whether a match should be re-hashed: an imported hash, outdated argon2 parameters, or a
        hash of the typed spelling where it differs from the normalised one."""
        spelling = self._matching_spelling(stored_hash, password)
        if spelling is None:
            return Verification(False, False)
        stale = spelling != normalise_password(password) or self.needs_rehash(stored_hash)
        return Verification(True, stale)

    def _matching_spelling(self, stored_hash: str, password: str) -> str | None:
        """The spelling of ``password`` that matches, or None after as long as the slowest
        kind of verification takes here, once per spelling tried."""
        normalised = normalise_password(password)
        legacy = None if stored_hash.startswith("$argon2") else parse_aspnet_identity_hash(stored_hash)
        spellings = (normalised, password) if legacy is None else (password, normalised)
        attempts = list(dict.fromkeys(spellings))  # one attempt when NFKC changes nothing
        spent_total = 0.0
        for spelling in attempts:
            if legacy is None:
                matched, spent = self._run(partial(_timed, self._verify_argon2, stored_hash, spelling))
                self._argon2_seconds += 0.1 * (spent - self._argon2_seconds)
            else:
                matched, spent = self._run(partial(_timed, verify_parsed, legacy, spelling))
                if self._legacy_seconds:
                    self._legacy_seconds += 0.1 * (spent - self._legacy_seconds)
                else:
                    self._legacy_seconds = spent
            spent_total += spent
            if matched:
                return spelling
        # Idle time, outside the hashing slot.
        slowest = max(self._argon2_seconds, self._legacy_seconds)
        time.sleep(max(0.0, len(attempts) * slowest - spent_total))
        return None

    def _verify_argon2(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def burn(self, password: str) -> None:
        """Spend the time a real verification would, so unknown users cost the same as known ones."""
        self.verify(self._dummy_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        """True unless ``stored_hash`` is argon2 with the current parameters (an imported
        ASP.NET hash always needs one)."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError):
            return True

    def _run(self, work: Callable[[], T]) -> T:
        if not self._slots.acquire(timeout=self._wait_seconds):
            raise ProviderUnavailable(self._provider_id, "password hashing is saturated")
        try:
            # A slot is held, so one of the pool's ``slots`` threads is free: no queueing here.
            return self._executor().submit(work).result()
        finally:
            self._slots.release()

    def _executor(self) -> ThreadPoolExecutor:
        # Created on first use, in the process that hashes (never carried across a fork).
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self._slot_count, thread_name_prefix="argon2")
        return self._pool
