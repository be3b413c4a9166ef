"""The user's own bind, the password check of an LDAP login: on a bind-pool connection, never
the service connection; a directory that refuses the bind for everyone is an outage, not a
wrong password."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import ldap3
from ldap3.core.exceptions import LDAPSASLPrepError

from providers.base import Note, Rejection
from providers.ldap import accountstate
from providers.ldap.connections import (
    UNAVAILABLE_CODES,
    ConnectionPool,
    LoginClock,
    ServerFailure,
    ServerRefused,
)

T = TypeVar("T")

INVALID_CREDENTIALS = 49
_CREDENTIAL_CODES = {49, 34}  # invalidCredentials; invalidDNSyntax (the DN came from typed input)


def bind_as(
    binds: ConnectionPool,
    account_state: str,
    dn: str,
    password: str,
    login: LoginClock,
    note: Note,
    then: Callable[[ldap3.Connection], T] | None = None,
) -> Rejection | T | None:
    """Bind as ``dn`` on a connection of ``binds``. None when it worked (or ``then``'s result,
    run on that connection while it is still bound as the user), else the rejection: DISABLED
    when the directory's message says the account is (``account_state`` tells how to read it)."""

    def attempt(connection: ldap3.Connection) -> tuple[bool, Any, str | None]:
        connection.user, connection.password = dn, password
        try:
            accepted = connection.bind()
        except LDAPSASLPrepError:
            # A password with characters SASLprep forbids (control characters, NUL)
            # cannot be anyone's directory password.
            return False, INVALID_CREDENTIALS, None
        finally:
            # The pooled connection keeps no password: ldap3 also keeps the last request.
            connection.password = connection.request = None
        result = connection.result or {}
        code = result.get("result")
        if code in UNAVAILABLE_CODES:
            raise ServerFailure(f"bind result {code}")
        if accepted:
            return True, None if then is None else then(connection), None
        if code not in _CREDENTIAL_CODES:
            # confidentialityRequired, inappropriateAuthentication, ...: the directory's
            # set-up refuses this bind for everyone. Not the user's fault, not a dead server.
            raise ServerRefused(f"user bind refused with result {code} ({result.get('description')})")
        return False, code, result.get("message")

    (accepted, value, message), server = binds.run(login, attempt)
    note("bind", f"dn={dn} on {server}: " + ("success" if accepted else f"refused (result {value})"))
    if accepted:
        return cast("T | None", value)
    refusal = accountstate.bind_refusal(account_state, message)
    if value == INVALID_CREDENTIALS and refusal:
        note("account", f"refused by the directory: {refusal}")
        return Rejection.DISABLED
    return Rejection.WRONG_CREDENTIALS
