"""A map view through the Registry stand-in (``tests/support/registrystub.py``): a GIS client sends
Basic credentials with every tile, and the Registry relays each one to the gateway as a
password login (``BasicAuthFilter``; docs/registry-contract.md section 1).

Three users pan a map at once: 256 tile requests each over 6 keep-alive connections, against
the gateway as ``gateway serve`` runs it by default (SQLite, several workers). Every tile is
answered 200; one user's password is changed by an admin in the middle, and the old password
does not survive it (refused at the next tile, then the new one works).

Integration tests: the gateway under gunicorn, the stand-in over HTTP.
"""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.adminapi import PASSWORD, AdminClient, start_admin_gateway
from tests.support.registrystub import RegistryStub

pytestmark = pytest.mark.integration
NEW_PASSWORD = "amber-thicket-63-lighthouse"
TILES, CONNECTIONS = 256, 6


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode("iso-8859-1")).decode()


def _tiles(stub: RegistryStub, username: str, password: str, count: int, start: int = 0) -> list[int]:
    """``count`` tiles of one user over CONNECTIONS keep-alive connections; their statuses."""
    sessions = [requests.Session() for _ in range(CONNECTIONS)]
    header = {"Authorization": _basic(username, password)}

    def tile(index: int) -> int:
        n = start + index
        url = f"{stub.url}/orgs/survey/ds/field-{username}/mvt/abc123/16/{n % 64}/{n // 64}.pbf"
        return sessions[index % CONNECTIONS].get(url, headers=header, timeout=30).status_code

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        return list(pool.map(tile, range(count)))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    server = start_admin_gateway(tmp_path_factory.mktemp("map-view"), workers=2)
    yield server
    server.stop()


def test_three_users_pan_a_map_and_a_password_change_cuts_the_old_password(gateway):
    stub = RegistryStub.start(f"{gateway.url}/api/authenticate")
    admin = AdminClient.login(gateway.url)
    try:
        with ThreadPoolExecutor(3) as users:
            alice = users.submit(_tiles, stub, "alice", PASSWORD, TILES)
            bob = users.submit(_tiles, stub, "bob", PASSWORD, TILES)
            carol_before = _tiles(stub, "carol", PASSWORD, TILES // 2)
            assert admin.put("/users/carol/changepwd", json={"newPassword": NEW_PASSWORD}).status_code == 204
            # On the embedded database every worker sees the change at its next request (three
            # tries: fewer than the free failures, so the throttle stays out of the picture).
            assert set(_tiles(stub, "carol", PASSWORD, 3)) == {401}
            carol_after = _tiles(stub, "carol", NEW_PASSWORD, TILES // 2, start=TILES // 2)
            assert set(alice.result()) == {200} and len(alice.result()) == TILES
            assert set(bob.result()) == {200} and len(bob.result()) == TILES
        assert set(carol_before) == {200} and set(carol_after) == {200}
        # One relayed password login per tile request (BasicAuthFilter), roles synced each time.
        password_calls = [call for call in stub.calls if call["path"] == "password"]
        assert len(password_calls) >= 3 * TILES
        assert stub.users["bob"]["roles"] == stub.users["bob"]["metadata"]["roles"]
    finally:
        stub.stop()


def test_the_stand_in_models_the_basic_auth_filter(gateway):
    stub = RegistryStub.start(f"{gateway.url}/api/authenticate")
    url = f"{stub.url}/orgs/survey/ds/field/mvt/abc123/3/1/2.pbf"
    try:
        anonymous = requests.get(url, timeout=10)
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"] == 'Basic realm="DroneDB"'
        wrong = requests.get(url, headers={"Authorization": _basic("alice", "wrong-password-1")}, timeout=10)
        assert wrong.status_code == 401 and stub.calls[-1]["status"] == 401
        assert requests.get(url, headers={"Authorization": "Basic %%%"}, timeout=10).status_code == 401
        no_colon = "Basic " + base64.b64encode(b"alice").decode()
        assert requests.get(url, headers={"Authorization": no_colon}, timeout=10).status_code == 500
        bad_tile = f"{stub.url}/orgs/survey/ds/field/mvt/abc123/25/1/2.pbf"
        assert (
            requests.get(
                bad_tile, headers={"Authorization": _basic("alice", PASSWORD)}, timeout=10
            ).status_code
            == 400
        )
    finally:
        stub.stop()
