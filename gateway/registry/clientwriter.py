"""The outbox's :class:`~gateway.registry.outboxwriter.RegistryWriter` made of the real
:class:`~gateway.registry.client.RegistryClient`: each write is one admin API call, and the
client's errors become the outbox's three outcomes.

* the Registry does not know the user (:class:`gateway.registry.errors.UnknownRegistryUser`)
  → the write is dropped;
* any other 4xx (:class:`gateway.registry.errors.RegistryRefused`) → failed for good, with the
  Registry's error text; a 401 is the exception: the service account was refused (a
  password being rotated, a mapping being fixed), so it is retried;
* the Registry unreachable, slow or 5xx (:class:`gateway.registry.errors.RegistryUnavailable`)
  → retried with backoff.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from gateway.registry import outboxwriter
from gateway.registry.client import RegistryClient
from gateway.registry.errors import RegistryRefused, RegistryUnavailable, UnknownRegistryUser


class ClientWriter:
    """Writes outbox rows through ``client``. ``set_organizations`` is handed to
    ``organizations`` (the organizations-from-rules work provides it); without one such a
    row fails with a message saying so."""

    def __init__(
        self,
        client: RegistryClient,
        organizations: Callable[[RegistryClient, str, dict[str, Any]], None] | None = None,
    ):
        self._client = client
        self._organizations = organizations

    def set_metadata(self, username: str, payload: dict[str, Any]) -> None:
        with _outcomes():
            self._client.set_metadata(username, payload)

    def delete_user(self, username: str, payload: dict[str, Any]) -> None:
        with _outcomes():
            self._client.delete_user(username)

    def set_organizations(self, username: str, payload: dict[str, Any]) -> None:
        if self._organizations is None:
            raise outboxwriter.PermanentWriteError("this gateway does not manage organizations")
        with _outcomes():
            self._organizations(self._client, username, payload)


@contextmanager
def _outcomes() -> Iterator[None]:
    try:
        yield
    except UnknownRegistryUser as error:
        raise outboxwriter.UnknownRegistryUser(str(error)) from None
    except RegistryRefused as error:
        if error.status == 401:
            raise outboxwriter.RetryableWriteError(str(error)) from None
        raise outboxwriter.PermanentWriteError(str(error)) from None
    except RegistryUnavailable as error:
        raise outboxwriter.RetryableWriteError(str(error)) from None
