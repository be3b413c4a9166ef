"""The one spelling of a local password: Unicode NFKC.

The same password can reach the gateway as different code points: ``ü`` typed on one system is
U+00FC, on another ``u`` followed by U+0308 (NFD); a full-width ``Ａ`` or a ligature ``ﬁ`` may
come from an input method. Local passwords are normalised to NFKC, as NIST SP 800-63B
(5.1.1.2) advises, before they are checked against the policy, hashed or verified, so all
those spellings are one password. The policy's lengths count the normalised characters.

Only the local provider does this. An LDAP bind sends the password as typed (UTF-8 of the
code points received): the directory decides, by its own rules, what matches.

Hashes made before normalisation was introduced, and hashes imported from a DroneDB Registry,
were made from the password as typed; :class:`providers.local.hashing.CappedHasher` still
accepts those spellings and the login replaces such a hash with one of the normalised form.
"""

from __future__ import annotations

import unicodedata


def normalise_password(password: str) -> str:
    """The NFKC form of ``password`` (what is checked, hashed and compared)."""
    return unicodedata.normalize("NFKC", password)
