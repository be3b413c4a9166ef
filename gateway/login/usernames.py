"""Canonical usernames.

The Registry identifies a password-path user by the username as typed, so the gateway accepts
only the canonical spelling there (contract §2.1); other spellings would become separate
Registry accounts with their own quota. Canonical names must also be creatable by the Registry:
ASP.NET Identity's default alphabet, or the Registry admin API's stricter one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

ALPHABETS = {
    # ASP.NET Core Identity's default AllowedUserNameCharacters.
    "identity": re.compile(r"[A-Za-z0-9\-._@+]{1,127}"),
    # The Registry admin API's own rule for user names.
    "strict": re.compile(r"[a-z0-9]{1,127}"),
}


@dataclass(frozen=True)
class UsernamePolicy:
    lowercase: bool = True
    trim: bool = True
    alphabet: str = "identity"

    def canonical(self, raw: str) -> str | None:
        """The canonical form of ``raw``, or None if it has none the Registry could hold."""
        name = unicodedata.normalize("NFC", raw)
        if self.trim:
            name = name.strip()
        if self.lowercase:
            name = name.lower()
        # fullmatch: ``$`` would also match before a trailing newline.
        return name if ALPHABETS[self.alphabet].fullmatch(name) else None

    def is_canonical(self, typed: str) -> bool:
        """Whether ``typed`` is already exactly its canonical form."""
        return self.canonical(typed) == typed
