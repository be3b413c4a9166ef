"""A mapping file edited and the gateway restarted (``mapping_source: file``, the default with a
``mapping:`` section) moves what the Registry holds for the users the edit affects, without a
login: a real gateway under gunicorn with a ``registry:`` section and the Registry stand-in
relaying its logins to it (issue 15 review item 2).

Contract lines: docs/registry-contract.md §2.6 (``POST /users/{name}/meta`` replaces the metadata
and re-runs the role sync: the object a login would answer).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.adminapi import AdminClient
from tests.support.paths import REPO_ROOT
from tests.support.registry.recording import RecordingStub
from tests.support.registrygateway import (
    answer_of,
    eventually,
    registry_login,
    roles_at_registry,
    start_linked_gateway,
)
from tests.support.servers import GunicornGateway

pytestmark = pytest.mark.integration
EVENTUALLY = 30.0


def restart(gateway, directory: Path) -> None:
    """Stop the gunicorn gateway and start it again on the same port, database and config."""
    port = gateway.server.port
    gateway.server.stop()
    gateway.server = GunicornGateway.start(
        directory,
        env=gateway.env,
        workers=1,
        port=port,
        extra_args=["-c", str(REPO_ROOT / "deploy" / "gunicorn.conf.py")],
    )


def settled(gateway) -> bool:
    outbox = AdminClient.login(gateway.url).get("/registry").json()["outbox"]
    return outbox["pending"] == 0 and outbox["failed"] == 0


def test_an_edited_mapping_file_reaches_the_registry_at_the_restart(tmp_path):
    gateway, stub = start_linked_gateway(tmp_path, RecordingStub)
    try:
        registry_login(stub, "alice")  # a pilot
        registry_login(stub, "frank")  # a surveyor: the pilots rule does not concern him
        eventually(lambda: settled(gateway), EVENTUALLY)
        assert roles_at_registry(stub, "alice") == ["pilot"]
        frank_writes = len(stub.writes_of("frank"))

        config = Path(gateway.env["GATEWAY_CONFIG"])
        text = config.read_text()
        assert text.count("roles: [pilot]\n") == 1
        config.write_text(text.replace("roles: [pilot]\n", "roles: [pilot, mapper]\n"))
        restart(gateway, tmp_path / "gunicorn-edited")
        eventually(lambda: sorted(roles_at_registry(stub, "alice")) == ["mapper", "pilot"], EVENTUALLY)
        assert stub.writes_of("alice")[-1] == answer_of(gateway, "alice")
        eventually(lambda: settled(gateway), EVENTUALLY)
        assert len(stub.writes_of("frank")) == frank_writes
        alice_writes = len(stub.writes_of("alice"))

        # The same file again: the writes were queued (and delivered) once, not at every start.
        restart(gateway, tmp_path / "gunicorn-same")
        eventually(lambda: settled(gateway), EVENTUALLY)
        assert len(stub.writes_of("alice")) == alice_writes
    finally:
        gateway.stop()
        stub.stop()
