"""The Registry stand-in, also keeping every metadata write it accepted, in arrival order: what
the push tests count (nothing lost, nothing twice, in order per user)."""

from __future__ import annotations

import io
import json
import re
import threading
from typing import Any

from tests.support.registry.standin import RegistryStub

_META = re.compile(r"/users/([^/]+)/meta")


class RecordingStub(RegistryStub):
    """A :class:`RegistryStub` whose accepted ``POST /users/{name}/meta`` bodies are in
    :meth:`writes_of` (the writes the gateway's outbox delivers)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._writes: list[tuple[str, dict[str, Any]]] = []
        self._writes_lock = threading.Lock()

    def writes_of(self, username: str) -> list[dict[str, Any]]:
        """The metadata written for ``username`` so far, oldest first."""
        with self._writes_lock:
            return [metadata for name, metadata in self._writes if name == username]

    def _make_app(self):
        app = super()._make_app()

        def recording(environ, start_response):
            match = _META.fullmatch(environ.get("PATH_INFO", ""))
            if match is None or environ["REQUEST_METHOD"] != "POST":
                return app(environ, start_response)
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
            statuses: list[str] = []

            def keep_status(status, headers, exc_info=None):
                statuses.append(status)
                return start_response(status, headers, exc_info)

            result = app(environ, keep_status)
            if statuses and statuses[0].startswith("2"):
                with self._writes_lock:
                    self._writes.append((match[1], json.loads(body)))
            return result

        return recording
