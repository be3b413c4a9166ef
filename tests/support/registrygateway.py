"""A gateway and the Registry stand-in linked both ways, for the tests of issue 15: the stand-in
(``issue_tokens=True``) relays its logins to the gateway's ``/api/authenticate``, and the
gateway's ``registry:`` section makes it write to the stand-in through the outbox.

The stand-in starts first, relaying nowhere (:data:`UNLINKED`), because the gateway's config
needs the stand-in's URL; :func:`link` points it at the gateway once that is up."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.support.harness import CONTRACT_CONFIG, PASSWORD, GatewayUnderTest, start_gateway
from tests.support.registrystub import RegistryStub

SYNC_PASSWORD_ENV = "REGISTRY_SYNC_PASSWORD"
UNLINKED = "http://127.0.0.1:9/api/authenticate"  # nothing listens there


def registry_section(registry_url: str, account: str = "bob", password_env: str = SYNC_PASSWORD_ENV) -> str:
    """The gateway's ``registry:`` section: write to ``registry_url`` as ``account``, whose
    password is in the environment variable ``password_env``. More settings of the section
    may follow it, indented by two spaces."""
    return f"""
registry:
  url: {registry_url}
  service_account: {{username: {account}, password_env: {password_env}}}
  connect_timeout_seconds: 2
  read_timeout_seconds: 5
"""


def linked_config(registry_url: str, mapping_in_database: bool = False) -> str:
    """The contract tests' config (mapping policy in the database if asked) writing to
    ``registry_url`` as bob, whose password is in :data:`SYNC_PASSWORD_ENV`."""
    prefix = "mapping_source: database\n" if mapping_in_database else ""
    return prefix + CONTRACT_CONFIG + registry_section(registry_url)


def start_stub(stub_class: type[RegistryStub] = RegistryStub) -> RegistryStub:
    """A stand-in that issues tokens, relaying nowhere until :func:`link`."""
    return stub_class.start(UNLINKED, issue_tokens=True)


def link(stub: RegistryStub, gateway_url: str) -> None:
    """Make ``stub`` relay its logins to the gateway at ``gateway_url``."""
    stub.external_auth_url = f"{gateway_url}/api/authenticate"


def start_linked_gateway(
    tmp_path: Path, stub_class: type[RegistryStub] = RegistryStub, mapping_in_database: bool = False
) -> tuple[GatewayUnderTest, RegistryStub]:
    """(gateway, stub) linked both ways, the gateway with :func:`linked_config` under gunicorn;
    the caller stops both."""
    stub = start_stub(stub_class)
    gateway = start_gateway(
        tmp_path, linked_config(stub.url, mapping_in_database), extra={SYNC_PASSWORD_ENV: PASSWORD}
    )
    link(stub, gateway.url)
    return gateway, stub


def registry_login(stub: RegistryStub, username: str, password: str = PASSWORD) -> str:
    """``username`` signs in at the Registry (relayed to the gateway); their Registry token."""
    answer = requests.post(
        f"{stub.url}/users/authenticate", data={"username": username, "password": password}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def with_token(stub: RegistryStub, method: str, path: str, token: str) -> requests.Response:
    """A request to the Registry carrying ``token``."""
    return requests.request(method, stub.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def answer_of(gateway, username: str) -> dict:
    """What a login of ``username`` gives the Registry now, asked of the gateway (or replica)
    directly, so that the stand-in records no login."""
    response = requests.post(
        f"{gateway.url}/api/authenticate", data={"username": username, "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def eventually(check: Callable[[], bool], seconds: float) -> float:
    """Seconds from this call to the start of the first ``check()`` that held; fails when a
    check started ``seconds`` or later after the call still did not hold.

    The time is read when a check starts, not when it returns: a check started within the
    bound but slow to come back on a loaded machine proves nothing late."""
    started = time.monotonic()
    while True:
        began = time.monotonic() - started
        if check():
            return began
        if began >= seconds:
            pytest.fail(f"not within {seconds} s")
        time.sleep(0.05)


def refused_within(stub: RegistryStub, token: str, seconds: float, give_up_after: float = 60.0) -> float:
    """Seconds from this call (made once the change has committed) to the sending of the first
    request that the Registry refused ``token`` on; fails when a request sent ``seconds`` or
    later after the call was still accepted.

    The time is read when a request is sent, not when its answer comes back: on a loaded
    machine an answer can be slow, and a request sent within the bound but answered after it
    proves nothing late. A request sent after the bound and still accepted does."""
    started = time.monotonic()
    while True:
        sent = time.monotonic() - started
        status = with_token(stub, "GET", "/orgs", token).status_code
        if status == 401:
            return sent
        if status == 200 and sent >= seconds:
            pytest.fail(f"the Registry still accepted the token on a request sent {sent:.2f} s after")
        if sent > give_up_after:
            pytest.fail(f"the Registry answered {status} to the token for {give_up_after} s")
        time.sleep(0.05)


def roles_at_registry(stub: RegistryStub, username: str) -> list[str]:
    """The roles the Registry holds for ``username``."""
    return list(stub.users[username]["roles"])
