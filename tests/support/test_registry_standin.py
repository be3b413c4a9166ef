"""The Registry stand-in's own model (tests/support/registry/), without the gateway: a tiny
fake ExternalAuthUrl answers each login with the object a test puts in ANSWERS."""

from __future__ import annotations

import jwt
import pytest
import requests

from tests.support.registry import BackgroundWsgiServer, RegistryStub

ANSWERS: dict[str, dict] = {}


@pytest.fixture(scope="module")
def fake_gateway():
    from flask import Flask, jsonify, request

    app = Flask(__name__)

    @app.post("/auth")
    def auth():
        answer = ANSWERS.get(request.form.get("username", ""))
        return (jsonify(answer), 200) if answer is not None else (jsonify({"error": "denied"}), 401)

    server = BackgroundWsgiServer(app, name="fake-gateway")
    yield server
    server.stop()


@pytest.fixture
def stub(fake_gateway):
    registry = RegistryStub.start(f"{fake_gateway.url}/auth", issue_tokens=True)
    yield registry
    registry.stop()


def login(stub, username: str) -> requests.Response:
    return requests.post(
        f"{stub.url}/users/authenticate", data={"username": username, "password": "pw"}, timeout=10
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_login_creates_the_account_and_a_registry_jwt_with_only_id_and_admin(stub):
    ANSWERS["Root"] = {"username": "root", "roles": ["admin"], "maxStorageMB": 5}
    answer = login(stub, "Root").json()
    assert answer["username"] == "Root" and set(answer) == {"username", "token", "expires"}
    claims = jwt.decode(answer["token"], stub.db.secret, algorithms=["HS256"])
    assert set(claims) == {"unique_name", "admin", "nbf", "iat", "exp"}
    assert claims["unique_name"] == stub.users["Root"]["id"] and claims["admin"] == "True"
    # Identity's normaliser: another case finds the same account, keeping the first spelling.
    ANSWERS["ROOT"] = ANSWERS["Root"]
    assert login(stub, "ROOT").json()["username"] == "Root" and list(stub.users) == ["Root"]


def test_roles_follow_only_an_array(stub):
    ANSWERS["pat"] = {"username": "pat", "roles": ["pilot"]}
    login(stub, "pat")
    ANSWERS["pat"] = {"username": "pat", "roles": "admin,pilot"}  # not an array: untouched
    login(stub, "pat")
    assert stub.users["pat"]["roles"] == ["pilot"]
    assert stub.users["pat"]["metadata"] == ANSWERS["pat"]  # the metadata is replaced whole
    ANSWERS["pat"] = {"username": "pat", "roles": []}
    login(stub, "pat")
    assert stub.users["pat"]["roles"] == []


def test_anonymous_and_non_admin_callers(stub):
    ANSWERS["pat"] = {"username": "pat", "roles": ["pilot"]}
    token = login(stub, "pat").json()["token"]
    anonymous = requests.get(f"{stub.url}/users/detailed", timeout=10)
    assert anonymous.status_code == 401 and anonymous.content == b""
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    refused = requests.get(f"{stub.url}/users/detailed", headers=bearer(token), timeout=10)
    assert refused.status_code == 401 and refused.json() == {"error": "User is not admin", "noRetry": True}
    assert requests.get(f"{stub.url}/users/meta", headers=bearer(token), timeout=10).json() == ANSWERS["pat"]


def test_put_user_needs_email_and_roles(stub):
    ANSWERS["root"] = {"username": "root", "roles": ["admin"]}
    token = login(stub, "root").json()["token"]
    answer = requests.put(
        f"{stub.url}/users/root", json={"email": "r@example.org"}, headers=bearer(token), timeout=10
    )
    assert answer.status_code == 400 and answer.json()["error"] == "The Roles field is required."


def test_the_down_switch_and_the_secret_rotation(stub):
    ANSWERS["pat"] = {"username": "pat", "roles": []}
    token = login(stub, "pat").json()["token"]
    stub.set_down("unavailable")
    assert requests.get(f"{stub.url}/orgs", headers=bearer(token), timeout=10).status_code == 503
    stub.set_down("refused")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{stub.url}/orgs", timeout=10)
    stub.set_down(None)
    assert requests.get(f"{stub.url}/orgs", headers=bearer(token), timeout=10).status_code == 200
    stub.rotate_secret()
    assert requests.get(f"{stub.url}/orgs", headers=bearer(token), timeout=10).status_code == 401


RAW: dict[str, tuple[int, str]] = {}  # username -> (status, body text) the raw fake answers


@pytest.fixture(scope="module")
def raw_gateway():
    """A fake ExternalAuthUrl answering each username with the exact status and text in RAW."""
    from flask import Flask, Response, request

    app = Flask(__name__)

    @app.post("/auth")
    def auth():
        status, text = RAW.get(request.form.get("username", ""), (401, '{"error": "denied"}'))
        return Response(text, status=status, mimetype="application/json")

    server = BackgroundWsgiServer(app, name="raw-gateway")
    yield server
    server.stop()


@pytest.mark.parametrize("text", ["[]", '"alice"', "<html>ok</html>"])
def test_a_2xx_body_that_is_not_a_json_object_is_a_400_with_the_parser_message(raw_gateway, text):
    """RemoteLoginManager.cs parses with Newtonsoft and catches only WebException;
    UsersController.Authenticate turns the exception into 400 {"error": message}."""
    RAW["pat"] = (200, text)
    with RegistryStub.start(f"{raw_gateway.url}/auth") as registry:
        answer = login(registry, "pat")
        assert answer.status_code == 400 and answer.json()["error"] and answer.json()["noRetry"] is False
        assert registry.users == {}


def test_an_empty_2xx_body_leaves_a_half_made_account(raw_gateway):
    RAW["pat"] = (200, "")
    with RegistryStub.start(f"{raw_gateway.url}/auth") as registry:
        assert login(registry, "pat").status_code == 400
        assert list(registry.users) == ["pat"] and registry.users["pat"]["metadata"] == {}
        assert "pat" in registry.db.organizations  # the default organization came first


def test_a_refusal_is_a_401_and_an_unreachable_gateway_a_400_with_the_exception_text(raw_gateway):
    RAW["pat"] = (503, '{"error": "provider unavailable"}')
    with RegistryStub.start(f"{raw_gateway.url}/auth") as registry:
        refused = login(registry, "pat")
        assert refused.status_code == 401 and refused.json() == {"error": "Unauthorized", "noRetry": False}
    with RegistryStub.start("http://127.0.0.1:9/auth") as registry:  # nothing listens on port 9
        unreachable = login(registry, "pat")
        assert unreachable.status_code == 400 and "Connection" in unreachable.json()["error"]


def test_a_typed_name_outside_the_identity_alphabet_fails_creation(stub):
    """UsersManager.CreateUserInternal: Identity refuses the name; no account is made."""
    for typed in ("CORP\\pat", " pat", "ｐａｔ"):
        ANSWERS[typed] = {"username": "pat", "roles": []}
        answer = login(stub, typed)
        assert answer.status_code == 400 and answer.json()["error"] == "Error in creating user"
    assert stub.users == {}


def test_a_dotless_i_look_alike_reaches_the_plain_account(stub):
    """Identity's normaliser upper-cases: alıce -> ALICE, the key of alice."""
    ANSWERS["alice"] = ANSWERS["alıce"] = {"username": "alice", "roles": ["pilot"]}
    login(stub, "alice")
    assert login(stub, "alıce").json()["username"] == "alice" and list(stub.users) == ["alice"]


def test_the_token_path_needs_a_string_username(raw_gateway):
    RAW[""] = (200, '{"username": 42, "roles": []}')
    with RegistryStub.start(f"{raw_gateway.url}/auth") as registry:
        answer = requests.post(f"{registry.url}/users/authenticate", data={"token": "t"}, timeout=10)
        assert answer.status_code == 400 and registry.users == {}


def test_the_log_holds_what_the_registry_logs(raw_gateway):
    """RemoteLoginManager.cs: a password-path refusal's status and body, every 2xx body; a
    token-path refusal leaves no line."""
    RAW["pat"], RAW["kim"] = (401, '{"error": "no"}'), (200, '{"username": "kim", "roles": []}')
    RAW[""] = (401, '{"error": "bad token"}')  # the token path posts no username
    with RegistryStub.start(f"{raw_gateway.url}/auth") as registry:
        login(registry, "pat")
        login(registry, "kim")
        requests.post(f"{registry.url}/users/authenticate", data={"token": "t"}, timeout=10)
        assert len(registry.log) == 2
        assert 'result code: 401, content {"error": "no"}' in registry.log[0]
        assert registry.log[1] == 'CheckAccess for user kim: {"username": "kim", "roles": []}'
