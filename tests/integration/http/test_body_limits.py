"""Request body limits over HTTP against the gateway under gunicorn (gateway.http.bodylimit).

A body over the limit is a 413 whether it is framed by Content-Length or chunked, and wherever
the credentials sit in it; the 413 closes the connection and says so, so a client reusing its
connection never meets a connection the server has already closed. The admin API keeps its
larger limit.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading

import pytest
import requests

from gateway.app import MAX_REQUEST_BYTES
from gateway.http.adminapi.base import MAX_ADMIN_BODY_BYTES
from tests.support.adminapi import PASSWORD, AdminClient, start_admin_gateway

pytestmark = pytest.mark.integration

FORM = "application/x-www-form-urlencoded"
CREDENTIALS = f"username=alice&password={PASSWORD}".encode()
JUNK = b"&junk=" + b"x" * (1024 * 1024)
# Over the limit, and over what gunicorn drains of a body the app left unread (64 KiB) before
# it gives up on the connection; small enough that the gateway and gunicorn together read it
# all before closing, so the client is never cut off while sending.
OVERSIZED = CREDENTIALS + b"&junk=" + b"x" * 100_000
TOO_LARGE = {"error": "request entity too large"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gateway = start_admin_gateway(tmp_path_factory.mktemp("body-limits"))
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def admin(gateway):
    return AdminClient.login(gateway.url)


# -- raw HTTP -----------------------------------------------------------------------------------


def _chunked(data: bytes, piece: int = 16 * 1024) -> bytes:
    """``data`` as a chunked body, in chunks of at most ``piece`` bytes."""
    chunks = [data[i : i + piece] for i in range(0, len(data), piece)]
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


def _post(
    gateway,
    body: bytes,
    *,
    chunked: bool,
    path: str = "/api/authenticate",
    content_type: str = FORM,
    headers: dict[str, str] | None = None,
):
    """Send one POST over a raw socket (the body from another thread, so that an early answer
    is read while it is still being sent). Returns the response, its body, and whether the
    server then closed the connection."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{framing}\r\n{extra}\r\n"
    ).encode()
    payload = head + (_chunked(body) if chunked else body)
    sock = socket.create_connection(("127.0.0.1", gateway.server.port), timeout=30)
    try:
        sender = threading.Thread(target=_send_quietly, args=(sock, payload), daemon=True)
        sender.start()
        response = http.client.HTTPResponse(sock)
        response.begin()
        content = response.read()
        closed = _server_closed(sock) if response.getheader("Connection") == "close" else False
        sender.join(30)
        return response, content, closed
    finally:
        sock.close()


def _send_quietly(sock: socket.socket, payload: bytes) -> None:
    try:
        sock.sendall(payload)
    except OSError:
        pass  # the server answered and closed before taking it all


def _server_closed(sock: socket.socket) -> bool:
    """Whether the server closed the connection (end of stream or reset within 10 s)."""
    sock.settimeout(10)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def _assert_refused(response, content: bytes) -> None:
    """A 413 with the short JSON error, announcing that the connection closes."""
    assert response.status == 413, content
    assert response.getheader("Connection") == "close"
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(content) == TOO_LARGE


def _assert_refused_and_closed(response, content: bytes, closed: bool) -> None:
    _assert_refused(response, content)
    assert closed, "the connection was left open"


def _exactly(size: int, start: bytes = CREDENTIALS) -> bytes:
    """A form that starts with ``start`` and is exactly ``size`` bytes long."""
    padding = b"&pad="
    return start + padding + b"x" * (size - len(start) - len(padding))


# -- the contract endpoint's limit --------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [CREDENTIALS + JUNK, JUNK + b"&" + CREDENTIALS], ids=["credentials-first", "junk-first"]
)
def test_a_chunked_body_over_the_limit_is_413_wherever_the_credentials_are(gateway, body):
    _assert_refused_and_closed(*_post(gateway, body, chunked=True))


@pytest.mark.parametrize("password, status", [(PASSWORD, 200), ("wrong-password", 401)])
def test_a_small_chunked_body_is_answered_as_usual(gateway, password, status):
    body = f"username=alice&password={password}".encode()
    response, content, _ = _post(gateway, body, chunked=True)
    assert response.status == status, content
    assert response.getheader("Connection") == "keep-alive"
    if status == 200:
        assert json.loads(content)["username"] == "alice"


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_body_of_exactly_the_limit_is_taken_and_one_byte_more_is_not(gateway, chunked):
    response, content, _ = _post(gateway, _exactly(MAX_REQUEST_BYTES), chunked=chunked)
    assert response.status == 200, content
    _assert_refused_and_closed(*_post(gateway, _exactly(MAX_REQUEST_BYTES + 1), chunked=chunked))


@pytest.mark.parametrize("body", [CREDENTIALS + JUNK, _exactly(30_000)], ids=["1MB", "30kB"])
def test_a_content_length_over_the_limit_is_413(gateway, body):
    _assert_refused_and_closed(*_post(gateway, body, chunked=False))


# -- keeping a connection only when it can be kept ----------------------------------------------


def test_a_client_reusing_its_connection_after_a_413_is_answered(gateway):
    """http.client trusts the Connection header: after ``keep-alive`` it sends the next request
    on the same socket, which the server had closed (BrokenPipeError or RemoteDisconnected);
    after ``close`` it opens a new one."""
    connection = http.client.HTTPConnection("127.0.0.1", gateway.server.port, timeout=30)
    try:
        connection.request("POST", "/api/authenticate", body=OVERSIZED, headers={"Content-Type": FORM})
        refused = connection.getresponse()
        _assert_refused(refused, refused.read())
        connection.request("POST", "/api/authenticate", body=CREDENTIALS, headers={"Content-Type": FORM})
        assert connection.getresponse().status == 200
    finally:
        connection.close()


def test_a_requests_session_goes_on_after_a_413(gateway):
    with requests.Session() as session:
        url = f"{gateway.url}/api/authenticate"
        for _ in range(2):
            refused = session.post(url, data=OVERSIZED, headers={"Content-Type": FORM}, timeout=30)
            assert refused.status_code == 413 and refused.json() == TOO_LARGE
            assert refused.headers["Connection"] == "close"
            granted = session.post(url, data={"username": "alice", "password": PASSWORD}, timeout=30)
            assert granted.status_code == 200, granted.text


def test_an_answer_that_ignores_a_large_body_keeps_an_honest_connection(gateway):
    """A 401 from the admin API comes before its (allowed) 200 KB body is looked at; the body
    was still read in full, so the connection announced as kept alive is usable."""
    body = json.dumps({"document": {"rules": []}, "pad": "x" * 200_000}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", gateway.server.port, timeout=30)
    try:
        for _ in range(2):
            connection.request(
                "POST", "/admin/api/mapping/dry-run", body=body, headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            response.read()
            assert response.status == 401
            assert response.getheader("Connection") == "keep-alive"
    finally:
        connection.close()


# -- the admin API's larger limit ---------------------------------------------------------------


def _policy_of(size: int) -> bytes:
    """A dry-run request for a valid policy of many rules, over ``size`` bytes of JSON."""
    rule = {
        "name": "pilots-00000",
        "match": {"group": "drone-pilots"},
        "roles": ["pilot"],
        "maxStorageMB": 51200,
    }
    count = size // len(json.dumps(rule)) + 1
    rules = [{**rule, "name": f"pilots-{number:05d}"} for number in range(count)]
    return json.dumps({"document": {"rules": rules}}).encode()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_the_admin_api_takes_bodies_up_to_its_own_limit(gateway, admin, chunked):
    body = _policy_of(100_000)
    assert MAX_REQUEST_BYTES < len(body) < MAX_ADMIN_BODY_BYTES
    response, content, _ = _post(
        gateway,
        body,
        chunked=chunked,
        path="/admin/api/mapping/dry-run",
        content_type="application/json",
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert response.status == 200, content
    assert json.loads(content)["valid"] is True


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_the_admin_api_refuses_bodies_over_its_limit(gateway, admin, chunked):
    body = _policy_of(MAX_ADMIN_BODY_BYTES + 1)
    _assert_refused_and_closed(
        *_post(
            gateway,
            body,
            chunked=chunked,
            path="/admin/api/mapping/dry-run",
            content_type="application/json",
            headers={"Authorization": f"Bearer {admin.token}"},
        )
    )


# -- bodies that cannot be read -----------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nusername=alice\r\n0\r\n\r\n",  # not a chunk size
        b"Content-Length: 100\r\n\r\nusername=alice",  # ends early
    ],
    ids=["malformed-chunk", "short-body"],
)
def test_an_unreadable_body_is_a_400_that_closes_the_connection(gateway, payload):
    sock = socket.create_connection(("127.0.0.1", gateway.server.port), timeout=30)
    try:
        sock.sendall(
            b"POST /api/authenticate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: " + FORM.encode() + b"\r\n" + payload
        )
        sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 400
        assert response.getheader("Connection") == "close"
        assert json.loads(response.read()) == {"error": "bad request"}
    finally:
        sock.close()
