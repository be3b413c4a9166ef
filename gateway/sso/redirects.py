"""Where a browser may be sent after a login: exact URLs only, never an open redirect.

A ``next`` value is allowed only when it is, character for character, one of the configured
URLs. No prefix, host or pattern matching: every trick that makes a browser read a URL
differently from a parser (``//evil``, ``/\\evil``, ``/%09/evil``, user-info, look-alike hosts,
trailing dots) simply fails to be equal to a configured URL.
"""

from __future__ import annotations

from collections.abc import Iterable


class RedirectAllowlist:
    def __init__(self, urls: Iterable[str]):
        self._urls = frozenset(urls)

    def allows(self, url: object) -> bool:
        """Whether ``url`` is exactly one of the allowed URLs."""
        return isinstance(url, str) and url in self._urls
