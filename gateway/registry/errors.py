"""What can go wrong when the gateway talks to the Registry's admin API.

Every message is fit to log and show: it names the Registry's URL or the user concerned, never
a password or a token.
"""

from __future__ import annotations


class RegistryError(Exception):
    """Base of every Registry client error."""


class RegistryUnavailable(RegistryError):
    """The Registry could not be asked or did not answer usefully: connection refused, DNS or
    TLS failure, a timeout, a 5xx, or a 2xx body that is not the JSON the call expects.
    Worth retrying later."""


class RegistryRefused(RegistryError):
    """The Registry answered 4xx. ``status`` is the HTTP status, ``error`` the text of its
    ``{"error": ...}`` body (``Controllers/ControllerBaseEx.cs`` ``ExceptionResult``), or an
    empty string when it sent none (the bearer check answers 401 with an empty body).
    Retrying the same call does not help."""

    def __init__(self, status: int, error: str, hint: str = ""):
        self.status = status
        self.error = error
        text = f"the Registry refused the call ({status})" + (f": {error}" if error else "")
        super().__init__(text + (f"; {hint}" if hint else ""))


class UnknownRegistryUser(RegistryRefused):
    """The user named in the call has no Registry account. The Registry answers this as a
    plain 400 (``Services/Managers/UsersManager.cs``: ``"Cannot find user <name>"``, or
    ``"User does not exist"`` from ``DeleteUser``); a write for such a user can be dropped."""

    def __init__(self, status: int, error: str, username: str):
        super().__init__(status, error)
        self.username = username
