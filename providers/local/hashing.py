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
"""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from providers.base import ProviderUnavailable
from providers.local.aspnet import parse_aspnet_identity_hash, verify_parsed

T = TypeVar("T")


def _timed(check: Callable[..., bool], *args) -> tuple[bool, float]:
    started = time.perf_counter()
    return check(*args), time.perf_counter() - started


class CappedHasher:
    """Hashes and verifies passwords, at most ``slots`` at a time in this process."""

    def __init__(self, provider_id: str, *, slots: int = 2, wait_seconds: float = 10.0,
                 time_cost: int = 2, memory_cost: int = 19456, parallelism: int = 1):
        self._provider_id = provider_id
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost,
                                      parallelism=parallelism)
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
        return self._run(lambda: self._hasher.hash(password))

    def verify(self, stored_hash: str, password: str) -> bool:
        """True when ``password`` matches an argon2 hash, or an imported ASP.NET Core Identity
        hash; False for a mismatch or an unreadable hash, after as long as the slowest kind of
        verification takes here."""
        legacy = None if stored_hash.startswith("$argon2") else parse_aspnet_identity_hash(stored_hash)
        if legacy is None:
            matched, spent = self._run(lambda: _timed(self._verify_argon2, stored_hash, password))
            self._argon2_seconds += 0.1 * (spent - self._argon2_seconds)
        else:
            matched, spent = self._run(lambda: _timed(verify_parsed, legacy, password))
            if self._legacy_seconds:
                self._legacy_seconds += 0.1 * (spent - self._legacy_seconds)
            else:
                self._legacy_seconds = spent
        if not matched:
            # Idle time, outside the hashing slot.
            time.sleep(max(0.0, max(self._argon2_seconds, self._legacy_seconds) - spent))
        return matched

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
