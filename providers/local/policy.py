"""Password policy for local users, after current guidance (NIST SP 800-63B).

Length is what counts: at least 12 characters, up to 128 accepted and hashed whole (never
truncated), any characters, no composition rules. The password is checked in its NFKC form
(:mod:`providers.local.normalise`), the form that is hashed, so lengths count normalised
characters. NIST asks to refuse "commonly-used, expected, or compromised values": refused are
passwords that contain the username or the name in the email address, that are the service's
name with digits, that are on a list of common passwords (``blocklist``), and, since a list
cannot hold every long pattern, passwords that zxcvbn (:mod:`providers.local.strength`)
estimates to need fewer than 10^8 guesses (``min_score`` 3 of 0-4): repeats and sequences
(``111111111111``, ``abcdefghijkl``), keyboard walks, common passwords and words run together
(``iloveyou1234``, ``passwordpassword``), names, dates, and the context words: the service's
name (``dronedb``, ``registry``, ``drone``), the username and the email address's name, which
count for nothing (the password without them must still reach the score). The refusal says
which of these made the password guessable.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from providers.local.normalise import normalise_password
from providers.local.strength import estimate, whole_pattern

CONTEXT_WORDS = ("dronedb", "registry", "drone")
SHORTEST_PERSONAL_WORD = 3  # shorter usernames and email names are not looked for

# What zxcvbn found, in a few words; by the kind of match that covers most of the password.
REASONS = {
    "pattern": "password is a repeated or sequential pattern",
    "keyboard": "password is a keyboard pattern",
    "personal": "password is built from the username or email address",
    "service": "password is built from the name of this service",
    "passwords": "password is built from commonly used passwords",
    "words": "password is built from common words or names",
    "dates": "password is built from dates or years",
}
TOO_EASY = "password is too easy to guess"
# On a tie, the more specific reason.
_PRECEDENCE = ("personal", "service", "pattern", "keyboard", "passwords", "dates", "words")


class PasswordRejected(ValueError):
    """The password does not satisfy the policy; the message says why, for the person choosing it."""


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 12
    max_length: int = 128
    blocklist: str | None = "bundled"  # "bundled", a file path, or None for no list
    min_score: int = 3  # zxcvbn's score, 0-4; 0 turns the estimate off

    def check(self, password: str, username: str = "", email: str | None = None) -> None:
        """Return quietly when the password is acceptable, else raise PasswordRejected.

        ``username`` and ``email`` are the account's (either may be empty): a password built
        from them is refused."""
        password = normalise_password(password)
        length = len(password)
        if length < self.min_length:
            raise PasswordRejected(f"password must be at least {self.min_length} characters")
        if length > self.max_length:
            raise PasswordRejected(f"password must be at most {self.max_length} characters")
        if not password.strip():
            raise PasswordRejected("password must not be only white space")
        folded = password.casefold()
        username = normalise_password(username or "").casefold()
        if len(username) >= SHORTEST_PERSONAL_WORD and username in folded:
            raise PasswordRejected("password must not contain the username")
        email_name = _email_name(email)
        if len(email_name) >= SHORTEST_PERSONAL_WORD and email_name in folded:
            raise PasswordRejected("password must not contain the email address")
        if any(
            folded == word or folded.startswith(word) and folded[len(word) :].isdigit()
            for word in CONTEXT_WORDS
        ):
            raise PasswordRejected(REASONS["service"])
        if self.blocklist and folded in _load_blocklist(self.blocklist):
            raise PasswordRejected("password is on a list of commonly used passwords")
        if self.min_score:
            self._estimate(password, folded, _personal_words(username, email_name))

    def _estimate(self, password: str, folded: str, personal: tuple[str, ...]) -> None:
        """Refuse a password zxcvbn finds guessable, or one that is guessable once the
        service's name and the account's names in it are taken out (zxcvbn counts every part
        of a password as at least 50 guesses, so three context words pass on their own)."""
        found = estimate(password, CONTEXT_WORDS + personal)
        if found.score < self.min_score:
            raise PasswordRejected(_reason(found.sequence, personal))
        present = {
            spelling: word
            for word in CONTEXT_WORDS + personal
            for spelling in (word, word[::-1])
            if spelling in folded
        }
        if not present:
            return
        rest = re.sub("|".join(map(re.escape, sorted(present, key=len, reverse=True))), "", folded)
        if not rest.strip() or estimate(rest, CONTEXT_WORDS + personal).score < self.min_score:
            personal_present = any(word in personal for word in present.values())
            raise PasswordRejected(REASONS["personal" if personal_present else "service"])


def _email_name(email: str | None) -> str:
    """The part of ``email`` before its last ``@``, normalised and case-folded."""
    return normalise_password((email or "").rpartition("@")[0]).casefold()


def _personal_words(username: str, email_name: str) -> tuple[str, ...]:
    """The username, the email's name and the parts of either (``jane.doe`` -> jane, doe)."""
    words = [username, email_name]
    for whole in (username, email_name):
        words += re.split(r"[._+@-]+", whole)
    return tuple(dict.fromkeys(word for word in words if len(word) >= SHORTEST_PERSONAL_WORD))


def _reason(sequence: Iterable[dict[str, Any]], personal: tuple[str, ...]) -> str:
    """The refusal for a password zxcvbn finds guessable: the kind of match covering most of it."""
    covered: dict[str, int] = defaultdict(int)
    for match in sequence:
        kind = _kind(match, personal)
        if kind:
            covered[kind] += len(match["token"])
    if not covered:
        return TOO_EASY
    return REASONS[max(covered, key=lambda kind: (covered[kind], -_PRECEDENCE.index(kind)))]


def _kind(match: dict[str, Any], personal: tuple[str, ...]) -> str | None:
    pattern = match["pattern"]
    if pattern in ("repeat", "sequence"):
        return "pattern"
    if pattern == "spatial":
        return "keyboard"
    if pattern in ("date", "regex"):
        return "dates"
    if pattern == "dictionary":
        name = match["dictionary_name"]
        if name == "user_inputs":
            return "personal" if match["matched_word"] in personal else "service"
        shape = whole_pattern(match["token"])  # "123456789", "qwertyuiop"
        if shape:
            return "keyboard" if shape == "spatial" else "pattern"
        return "passwords" if name == "passwords" else "words"
    return None  # bruteforce: the part no pattern explains


@functools.lru_cache(maxsize=4)
def _load_blocklist(source: str) -> frozenset[str]:
    if source == "bundled":
        text = resources.files("providers.local").joinpath("data/common-passwords.txt").read_text("utf-8")
    else:
        text = Path(source).read_text("utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )
