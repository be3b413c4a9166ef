"""argon2id hashing with a cap on how many hashes run at once.

Defaults follow OWASP's password storage guidance for argon2id: 19 MiB, 2 passes, 1 lane.

Each argon2 verification takes ``memory_cost`` KiB; without a cap a burst of logins multiplies
that by the number of threads. A slot that cannot be had within ``wait_seconds`` turns into
ProviderUnavailable (503) rather than an unbounded queue.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from typing import Iterator

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from providers.base import ProviderUnavailable


class CappedHasher:
    """Hashes and verifies passwords, at most ``slots`` at a time in this process."""

    def __init__(self, provider_id: str, *, slots: int = 2, wait_seconds: float = 10.0,
                 time_cost: int = 2, memory_cost: int = 19456, parallelism: int = 1):
        self._provider_id = provider_id
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost,
                                      parallelism=parallelism)
        self._slots = threading.BoundedSemaphore(slots)
        self._wait_seconds = wait_seconds
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        with self._slot():
            return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """True when ``password`` matches; False for a mismatch or an unreadable hash."""
        with self._slot():
            try:
                return self._hasher.verify(stored_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def burn(self, password: str) -> None:
        """Spend the time a real verification would, so unknown users cost the same as known ones."""
        self.verify(self._dummy_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError):
            return True

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self._wait_seconds):
            raise ProviderUnavailable(self._provider_id, "password hashing is saturated")
        try:
            yield
        finally:
            self._slots.release()
