"""Password policy for local users, after current guidance (NIST SP 800-63B).

Length is what counts: at least 12 characters, up to 128 accepted and hashed whole (never
truncated), any characters, no composition rules; refuse passwords found in a list of common
ones and passwords built from the username or the product name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

CONTEXT_WORDS = ("dronedb", "registry")


class PasswordRejected(ValueError):
    """The password does not satisfy the policy; the message says why, for the person choosing it."""


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 12
    max_length: int = 128
    blocklist: str | None = "bundled"  # "bundled", a file path, or None for no list

    def check(self, password: str, username: str = "") -> None:
        """Return quietly when the password is acceptable, else raise PasswordRejected."""
        length = len(password)
        if length < self.min_length:
            raise PasswordRejected(f"password must be at least {self.min_length} characters")
        if length > self.max_length:
            raise PasswordRejected(f"password must be at most {self.max_length} characters")
        if not password.strip():
            raise PasswordRejected("password must not be only white space")
        folded = password.casefold()
        if username and len(username) >= 3 and username.casefold() in folded:
            raise PasswordRejected("password must not contain the username")
        if any(folded == word or folded.startswith(word) and folded[len(word):].isdigit()
               for word in CONTEXT_WORDS):
            raise PasswordRejected("password is too easy to guess")
        if self.blocklist and folded in _load_blocklist(self.blocklist):
            raise PasswordRejected("password is on a list of commonly used passwords")


@functools.lru_cache(maxsize=4)
def _load_blocklist(source: str) -> frozenset[str]:
    if source == "bundled":
        text = resources.files("providers.local").joinpath("data/common-passwords.txt").read_text("utf-8")
    else:
        text = Path(source).read_text("utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line.strip() and not line.startswith("#"))
