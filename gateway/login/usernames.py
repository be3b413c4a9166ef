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

    def advice(self, typed: str, *, lead: str = "Use") -> str:
        """One short sentence, in words a non-developer understands, telling how to write
        ``typed`` here: ``lead`` ("Use", "Sign in as") its canonical form, and why; or, when it has
        none, which characters a username may use. Meant for a ``typed`` that is not canonical."""
        suggestion = self.canonical(typed)
        if suggestion is None:
            letters = (
                "lower-case letters and digits"
                if self.alphabet == "strict"
                else "letters, digits and . _ - @ +"
            )
            shown = typed if len(typed) <= 64 else typed[:60] + "..."
            return f"'{shown}' cannot be a username here: use only {letters} (at most 127 characters)."
        if self.lowercase and typed.strip().lower() != typed.strip():
            return (
                f"{lead} '{suggestion}' instead: this gateway writes usernames in lower case, and the "
                f"Registry treats '{typed.strip()}' and '{suggestion}' as one account."
            )
        if self.trim and typed.strip() != typed:
            return f"{lead} '{suggestion}' instead: a username has no spaces around it."
        return f"{lead} '{suggestion}' instead: this gateway writes every username in one standard form."
