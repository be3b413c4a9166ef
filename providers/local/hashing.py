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
pool, and a wrong password against one is made to last as long as an argon2 verification (a
moving average of this process's), so it answers as fast as an unknown username does, unless
the Registry's PBKDF2 itself costs more than argon2. ``needs_rehash`` is True for them, so the login
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
        # How long one argon2 verification takes here (a moving average): a wrong password
        # against an imported hash is made to last as long.
        started = time.perf_counter()
        self._verify_argon2(self._dummy_hash, "")
        self._argon2_seconds = time.perf_counter() - started

    def hash(self, password: str) -> str:
        return self._run(lambda: self._hasher.hash(password))

    def verify(self, stored_hash: str, password: str) -> bool:
        """True when ``password`` matches an argon2 hash, or an imported ASP.NET Core Identity
        hash; False for a mismatch or an unreadable hash."""
        legacy = None if stored_hash.startswith("$argon2") else parse_aspnet_identity_hash(stored_hash)
        if legacy is None:
            return self._run(lambda: self._timed_argon2(stored_hash, password))
        started = time.perf_counter()
        if self._run(lambda: verify_parsed(legacy, password)):
            return True
        # As slow as an unknown user's dummy argon2 (outside the hashing slot: it is idle
        # time). A Registry hash that costs more than argon2 stays that much slower.
        time.sleep(max(0.0, self._argon2_seconds - (time.perf_counter() - started)))
        return False

    def _timed_argon2(self, stored_hash: str, password: str) -> bool:
        started = time.perf_counter()
        try:
            return self._verify_argon2(stored_hash, password)
        finally:
            self._argon2_seconds += 0.1 * (time.perf_counter() - started - self._argon2_seconds)

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
