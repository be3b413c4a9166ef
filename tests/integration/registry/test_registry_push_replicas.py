"""Two gateway replicas (two workers each, so four outbox deliverers) on one PostgreSQL deliver
each Registry write exactly once, whichever replica made the change (issue 15)."""

from __future__ import annotations

import copy
import time

import pytest

from tests.support.adminapi import AdminClient
from tests.support.harness import PASSWORD, SEED_USERS
from tests.support.registry.recording import RecordingStub
from tests.support.registrygateway import (
    SYNC_PASSWORD_ENV,
    answer_of,
    link,
    linked_config,
    registry_login,
    start_stub,
)
from tests.support.replicas import start_replicas
from tests.support.servers import wait_for

pytestmark = pytest.mark.integration
DEACTIVATED = {"roles": ["deactivated"]}
PILOTS = ("alice", "erin", "gina.o-neil+test@example.org")


@pytest.fixture(scope="module")
def pair(tmp_path_factory, postgres_server, redis_server):
    """(replicas, stub): the stub relays logins to replica A; both replicas write to the stub."""
    stub = start_stub(RecordingStub)
    replicas = start_replicas(
        tmp_path_factory.mktemp("registry-replicas"),
        linked_config(stub.url, mapping_in_database=True),
        database_url=postgres_server.create_database("registry_push_replicas"),
        redis_url=redis_server.url,
        users=SEED_USERS,
        extra={SYNC_PASSWORD_ENV: PASSWORD},
    )
    link(stub, replicas.a.url)
    yield replicas, stub
    replicas.stop()
    stub.stop()


def arrives(stub, username: str, count: int, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while len(stub.writes_of(username)) < count:
        assert time.monotonic() < deadline, f"{username}: {stub.writes_of(username)}"
        time.sleep(0.05)


def settled(admin: AdminClient) -> bool:
    outbox = admin.get("/registry").json()["outbox"]
    return outbox["pending"] == 0 and outbox["failed"] == 0


def answer_under_new_rule(replica, username: str) -> dict:
    """The answer of a login of ``username`` once the answering worker applies the changed
    rule: each worker refreshes its copy of the policy on its own, later on a loaded machine."""

    def changed() -> dict | None:
        answer = answer_of(replica, username)
        return answer if sorted(answer.get("roles", [])) == ["mapper", "pilot"] else None

    return wait_for(
        changed,
        timeout=60,
        message=f"{username}'s answer never had the changed rule's roles",
    )


def test_each_change_is_delivered_once_by_two_replicas(pair):
    replicas, stub = pair
    a, b = AdminClient.login(replicas.a.url), AdminClient.login(replicas.b.url)
    for name in PILOTS:
        registry_login(stub, name)
    wait_for(
        lambda: settled(a), timeout=60, message="the outbox still has pending writes"
    )  # a login's writes are out
    seen = {name: len(stub.writes_of(name)) for name in PILOTS}
    intended: dict[str, list[dict]] = {name: [] for name in PILOTS}

    def made(username: str, change: dict) -> None:
        intended[username].append(change)
        arrives(stub, username, seen[username] + len(intended[username]))

    assert a.put("/users/alice", json={"enabled": False}).status_code == 200
    made("alice", DEACTIVATED)
    assert b.put("/users/alice", json={"enabled": True}).status_code == 200
    made("alice", answer_of(replicas.a, "alice"))
    assert a.post("/users/erin/meta", json={"maxStorageMB": 4321}).status_code == 200
    made("erin", answer_of(replicas.b, "erin"))

    # One rule change on B moves every pilot at once: each of them gets one write.
    current = b.get("/mapping").json()
    document = copy.deepcopy(current["document"])
    next(rule for rule in document["rules"] if rule["name"] == "pilots")["roles"] = ["pilot", "mapper"]
    assert b.put("/mapping", json={"document": document}).status_code == 200
    for name in PILOTS:
        made(name, answer_under_new_rule(replicas.a, name))

    # Settled: no row is pending on the shared database (a row stays until its delivery is
    # recorded), so no deliverer of either replica has anything left to send.
    wait_for(lambda: settled(a), timeout=60, message="the outbox still has pending writes")
    for name in PILOTS:
        assert stub.writes_of(name)[seen[name] :] == intended[name], name
    for name in PILOTS:
        assert sorted(stub.users[name]["roles"]) == ["mapper", "pilot"]
