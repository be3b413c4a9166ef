"""The admin users API (the Registry's user API, under /admin/api) and POST /api/token, over
HTTP against the gateway under gunicorn: shapes, validation that names the field, the
protective rules, and revocation that the Registry's contract endpoint sees at once."""

from __future__ import annotations

import json
import unicodedata

import pytest
import requests

from providers.base import Identity
from tests.support.adminapi import (
    ADMIN_PASSWORD,
    PASSWORD,
    AdminClient,
    admin_api_works,
    registry_answer,
    registry_token,
    start_admin_gateway,
)

pytestmark = pytest.mark.integration
NEW_PASSWORD = "green-harbour-19-lantern"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    gateway = start_admin_gateway(tmp_path_factory.mktemp("admin-users"))
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def admin(gateway):
    return AdminClient.login(gateway.url)


def _token(gateway, username, password=PASSWORD):
    response = requests.post(
        f"{gateway.url}/api/token", data={"username": username, "password": password}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


# -- POST /api/token ----------------------------------------------------------------------


def test_a_token_for_a_password_login_says_who_and_whether_admin(gateway):
    body = _token(gateway, "admin", ADMIN_PASSWORD)
    assert body["token_type"] == "Bearer" and body["username"] == "admin" and body["admin"] is True
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert _token(gateway, "alice")["admin"] is False


def test_admin_api_tokens_and_registry_tokens_are_not_interchangeable(gateway):
    admin_token = _token(gateway, "admin", ADMIN_PASSWORD)["access_token"]
    assert registry_answer(gateway, token=admin_token).status_code == 401
    # The xAuthToken cookie's token, readable by any script on the shared domain, opens no
    # admin API (and so cannot mint API keys that outlive the session).
    cookie_token = registry_token(gateway, "admin")
    assert registry_answer(gateway, token=cookie_token).status_code == 200
    assert AdminClient(gateway.url, cookie_token).get("/me").status_code == 401


def test_an_app_password_gets_no_admin_api_token(gateway):
    alice = AdminClient.login(gateway.url, "alice", PASSWORD)
    secret = alice.post("/me/app-passwords", json={"name": "cli"}).json()
    secret = next(value for value in secret.values() if isinstance(value, str) and value.startswith("gwap_"))
    assert registry_answer(gateway, username="alice", password=secret).status_code == 200
    response = requests.post(
        f"{gateway.url}/api/token", json={"username": "alice", "password": secret}, timeout=30
    )
    assert response.status_code == 401


def test_token_refusals_do_not_tell_unknown_users_from_wrong_passwords(gateway):
    unknown = requests.post(
        f"{gateway.url}/api/token", json={"username": "nobody-at-all", "password": "x" * 20}, timeout=30
    )
    wrong = requests.post(
        f"{gateway.url}/api/token", json={"username": "carol", "password": "x" * 20}, timeout=30
    )
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json() == {"error": "invalid credentials"}


def test_token_request_validation_names_the_field(gateway):
    response = requests.post(f"{gateway.url}/api/token", json={"username": "alice"}, timeout=30)
    assert response.status_code == 400 and response.json()["field"] == "password"
    response = requests.post(f"{gateway.url}/api/token", json=["alice"], timeout=30)
    assert response.status_code == 400
    response = requests.post(
        f"{gateway.url}/api/token",
        data=b"\x00\x01",
        headers={"Content-Type": "application/octet-stream"},
        timeout=30,
    )
    assert response.status_code == 415


def test_token_requests_are_throttled_per_account(gateway):
    statuses = [
        requests.post(
            f"{gateway.url}/api/token",
            json={"username": "throttled-tom", "password": "wrong-" * 4},
            timeout=30,
        ).status_code
        for _ in range(8)
    ]
    assert statuses[0] == 401 and statuses[-1] == 429


# -- who may call ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer junk",
        "Basic YWRtaW46eA==",
        "Bearer gwak_aaaaaaaaaaaa_" + "A" * 43,
        "Bearer " + "x" * 8100,
    ],
)
def test_no_valid_credential_is_a_401(gateway, header):
    headers = {"Authorization": header} if header else {}
    response = requests.get(f"{gateway.url}/admin/api/users", headers=headers, timeout=30)
    assert response.status_code == 401
    assert response.json() == {"error": "authentication required"}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_non_admin_gets_403_on_admin_routes_but_reads_their_own_metadata(gateway):
    alice = AdminClient.login(gateway.url, "alice", PASSWORD)
    assert alice.get("/users").status_code == 403
    assert alice.get("/users/bob/meta").status_code == 403
    assert alice.get("/users/alice/meta").status_code == 200


# -- users ----------------------------------------------------------------------------------


def test_create_list_and_show_a_user_in_the_registry_shape(gateway, admin):
    created = admin.post(
        "/users",
        json={
            "userName": "dora",
            "password": PASSWORD,
            "email": "dora@example.org",
            "displayName": "Dora",
            "roles": ["pilot"],
            "groups": ["drone-pilots"],
            "metadata": {"maxStorageMB": 2048},
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["userName"] == "dora" and body["roles"] == ["pilot"]
    assert body["maxStorageMB"] == 2048 and type(body["maxStorageMB"]) is int
    assert body["groups"] == ["drone-pilots"] and body["provider"] == "local"
    assert body["readOnly"] is False and body["enabled"] is True
    assert body["metadata"] == {"maxStorageMB": 2048}
    assert "password" not in created.text and PASSWORD not in created.text

    listed = admin.get("/users", params={"filter": "DORA"})
    assert listed.json() == [{"userName": "dora", "email": "dora@example.org", "roles": ["pilot"]}]
    assert listed.headers["X-Total-Count"] == "1"

    answer = registry_answer(gateway, username="dora", password=PASSWORD).json()
    assert answer == {
        "username": "dora",
        "roles": ["pilot"],
        "maxStorageMB": 2048,
        "email": "dora@example.org",
    }


def test_lists_sort_and_page(gateway, admin):
    everyone = [u["userName"] for u in admin.get("/users").json()]
    assert everyone == sorted(everyone) and {"admin", "alice", "bob", "carol"} <= set(everyone)
    descending = admin.get("/users", params={"sort": "-userName", "limit": 2, "offset": 1})
    assert [u["userName"] for u in descending.json()] == sorted(everyone, reverse=True)[1:3]
    assert descending.headers["X-Total-Count"] == str(len(everyone))
    detailed = admin.get("/users/detailed", params={"sort": "-lastLoginAt", "limit": 1}).json()
    assert detailed[0]["lastLoginAt"] is not None and "activeSessions" in detailed[0]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"sort": "password"}, "sort"),
        ({"limit": "0"}, "limit"),
        ({"limit": "²"}, "limit"),
        ({"offset": "-1"}, "offset"),
    ],
)
def test_bad_list_parameters_name_the_parameter(admin, params, field):
    response = admin.get("/users", params=params)
    assert response.status_code == 400 and response.json()["field"] == field


@pytest.mark.parametrize(
    "body, field, status",
    [
        ({"password": PASSWORD}, "userName", 400),
        ({"userName": "eve"}, "password", 400),
        ({"userName": "Eve", "password": PASSWORD}, "userName", 400),  # not canonical
        ({"userName": "eve", "password": "short"}, "password", 400),  # password policy
        ({"userName": "eve", "password": PASSWORD, "email": "not-an-email"}, "email", 400),
        ({"userName": "eve", "password": PASSWORD, "groups": ["no-such-group"]}, "groups", 400),
        ({"userName": "eve", "password": PASSWORD, "roles": "admin"}, "roles", 400),
        ({"userName": "eve", "password": PASSWORD, "metadata": {"maxStorageMB": -1}}, "maxStorageMB", 400),
        ({"userName": "eve", "password": PASSWORD, "maxStorageMB": "5 PB"}, "maxStorageMB", 400),
        ({"userName": "eve", "password": PASSWORD, "maxStorageMB": "0.3 GB"}, "maxStorageMB", 400),
        (
            {"userName": "eve", "password": PASSWORD, "maxStorageMB": 1, "metadata": {"maxStorageMB": 2}},
            "maxStorageMB",
            400,
        ),
        ({"userName": "eve", "password": PASSWORD, "surprise": 1}, "surprise", 400),
        ({"userName": "alice", "password": PASSWORD}, "userName", 409),
    ],
)
def test_create_refusals_name_the_field(admin, body, field, status):
    response = admin.post("/users", json=body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert admin.get("/users/eve").status_code == 404


def test_a_quota_with_units_is_stored_and_answered_as_integer_megabytes(gateway, admin):
    created = admin.post("/users", json={"userName": "quinn", "password": PASSWORD, "maxStorageMB": "1.5 GB"})
    assert created.status_code == 201, created.text
    assert created.json()["maxStorageMB"] == 1536 and created.json()["metadata"]["maxStorageMB"] == 1536
    answer = registry_answer(gateway, username="quinn", password=PASSWORD)
    assert answer.status_code == 200 and type(answer.json()["maxStorageMB"]) is int
    assert answer.json()["maxStorageMB"] == 1536
    meta = admin.post("/users/quinn/meta", json={"maxStorageMB": "2 TB"})
    assert meta.status_code == 200, meta.text
    assert registry_answer(gateway, username="quinn", password=PASSWORD).json()["maxStorageMB"] == 2 * 1024**2


def test_a_form_body_works_like_the_registry_sends_it(admin):
    response = admin.post(
        "/users", data={"userName": "fern", "password": PASSWORD, "roles": ["surveyor", "pilot"]}
    )
    assert response.status_code == 201, response.text
    assert response.json()["roles"] == ["surveyor", "pilot"]


def test_update_changes_only_what_is_given(gateway, admin):
    admin.post("/users", json={"userName": "gus", "password": PASSWORD, "email": "gus@example.org"})
    changed = admin.put(
        "/users/gus",
        json={"displayName": "Gus G", "roles": ["editor"], "groups": ["drone-admins", "drone-pilots"]},
    ).json()
    assert changed["email"] == "gus@example.org" and changed["displayName"] == "Gus G"
    assert changed["roles"] == ["editor"] and changed["groups"] == ["drone-admins", "drone-pilots"]
    assert admin.put("/users/gus", json={"enabled": "maybe"}).json()["field"] == "enabled"
    assert admin.put("/users/nobody-here", json={"displayName": "x"}).status_code == 404
    # Found by the schemathesis run: a null list was a 500. Null clears, as [] does.
    cleared = admin.put("/users/gus", json={"groups": None, "roles": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["groups"] == [] and cleared.json()["roles"] == []


def test_metadata_sets_an_integer_quota_the_registry_receives(gateway, admin):
    assert admin.post("/users/carol/meta", json={"maxStorageMB": 10240, "team": "north"}).json() == {
        "maxStorageMB": 10240,
        "team": "north",
    }
    assert admin.get("/users/carol/meta").json() == {"maxStorageMB": 10240, "team": "north"}
    answer = registry_answer(gateway, username="carol", password=PASSWORD).json()
    assert answer["maxStorageMB"] == 10240 and type(answer["maxStorageMB"]) is int
    assert answer["team"] == "north"
    for bad in ({"maxStorageMB": 1.5}, {"maxStorageMB": True}, {"roles": ["admin"]}, {"username": "root"}):
        response = admin.post("/users/carol/meta", json=bad)
        assert response.status_code == 400, bad
        assert response.json()["field"] in bad
    assert (
        admin.post("/users/carol/meta", data="[1]", headers={"Content-Type": "application/json"}).status_code
        == 400
    )


@pytest.mark.parametrize(
    "password, reason",
    [
        ("abcdefghijkl", "a repeated or sequential pattern"),
        ("iloveyou1234", "built from commonly used passwords"),
        ("dronedbregistry", "built from the name of this service"),
        ("song-river-2024", "built from the username or email address"),  # the email's name
    ],
)
def test_a_guessable_password_is_a_400_that_says_why(admin, password, reason):
    response = admin.post(
        "/users", json={"userName": "yara", "password": password, "email": "river.song@example.org"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "password"
    assert reason in response.json()["error"]
    assert admin.get("/users/yara").status_code == 404


def test_a_reset_to_a_guessable_password_says_why(admin):
    admin.post("/users", json={"userName": "zack", "password": PASSWORD, "email": "tiger.lily@example.org"})
    refused = admin.put("/users/zack/changepwd", json={"newPassword": "lily-tiger-1999"})
    assert refused.status_code == 400 and refused.json()["field"] == "newPassword"
    assert "username or email address" in refused.json()["error"]


def test_the_password_path_takes_any_unicode_spelling_of_a_local_password(gateway, admin):
    """NFC set, NFD typed (and the reverse): local passwords are compared in NFKC."""
    nfc = unicodedata.normalize("NFC", "Grüße-über-Brücken-7")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    assert admin.post("/users", json={"userName": "ute", "password": nfc}).status_code == 201
    assert admin.post("/users", json={"userName": "udo", "password": nfd}).status_code == 201
    for username, typed in (("ute", nfd), ("udo", nfc), ("ute", nfc)):
        answer = registry_answer(gateway, username=username, password=typed)
        assert answer.status_code == 200, (username, answer.text)
        assert answer.json()["username"] == username
    assert registry_answer(gateway, username="ute", password=nfd + "x").status_code == 401


def test_passwords_reset_by_an_admin_and_changed_by_their_owner(gateway, admin):
    admin.post("/users", json={"userName": "hank", "password": PASSWORD})
    before_reset = _token(gateway, "hank")["access_token"]
    assert admin.put("/users/hank/changepwd", json={"newPassword": "short"}).json()["field"] == "newPassword"
    assert admin.put("/users/hank/changepwd", json={"newPassword": NEW_PASSWORD}).status_code == 204
    assert registry_answer(gateway, username="hank", password=PASSWORD).status_code == 401
    assert not admin_api_works(gateway, before_reset)  # a reset ends sessions
    other_device = _token(gateway, "hank", NEW_PASSWORD)["access_token"]
    hank = AdminClient.login(gateway.url, "hank", NEW_PASSWORD)
    wrong = hank.post("/users/changepwd", json={"currentPassword": PASSWORD, "newPassword": PASSWORD + "-x"})
    assert wrong.status_code == 400 and wrong.json()["field"] == "currentPassword"
    assert (
        hank.post(
            "/users/changepwd", json={"currentPassword": NEW_PASSWORD, "newPassword": PASSWORD}
        ).status_code
        == 204
    )
    assert not admin_api_works(gateway, other_device)  # other sessions end
    assert admin_api_works(gateway, hank.token)  # this one stays
    assert registry_answer(gateway, username="hank", password=PASSWORD).status_code == 200


# -- the protective rules -----------------------------------------------------------------


def test_an_admin_cannot_delete_or_disable_themselves(admin):
    assert admin.delete("/users/admin").json() == {"error": "you cannot delete yourself"}
    response = admin.put("/users/admin", json={"enabled": False})
    assert response.status_code == 409 and "yourself" in response.json()["error"]


def test_the_last_admin_cannot_be_demoted_until_there_is_another(gateway, admin):
    response = admin.put("/users/admin", json={"roles": []})
    assert response.status_code == 409 and "last admin" in response.json()["error"]
    assert admin.post("/users/admin/meta", json={}).status_code == 200  # roles are kept
    assert "admin" in admin.get("/users/admin").json()["roles"]

    admin.post("/users", json={"userName": "ivy", "password": PASSWORD, "roles": ["admin"]})
    ivy = AdminClient.login(gateway.url, "ivy", PASSWORD)
    assert ivy.put("/users/admin", json={"roles": []}).status_code == 200  # ivy remains
    assert admin.get("/users").status_code == 403  # in force at the admin's next call
    assert ivy.put("/users/ivy", json={"roles": []}).status_code == 409  # now ivy is the last
    assert ivy.put("/users/admin", json={"roles": ["admin"]}).status_code == 200
    assert admin.delete("/users/ivy").status_code == 204
    assert admin.put("/users/admin", json={"roles": []}).status_code == 409


def test_disabling_revokes_tokens_at_once_and_enabling_does_not_bring_them_back(gateway, admin):
    admin.post("/users", json={"userName": "jack", "password": PASSWORD})
    token = registry_token(gateway, "jack")
    assert registry_answer(gateway, token=token).status_code == 200
    assert admin.put("/users/jack", json={"enabled": False}).json()["enabled"] is False
    assert registry_answer(gateway, token=token).status_code == 401
    assert registry_answer(gateway, username="jack", password=PASSWORD).status_code == 403
    assert admin.put("/users/jack", json={"enabled": True}).json()["enabled"] is True
    assert registry_answer(gateway, token=token).status_code == 401
    assert registry_answer(gateway, username="jack", password=PASSWORD).status_code == 200


def test_delete_cascades_to_tokens_and_is_audited(gateway, admin):
    admin.post("/users", json={"userName": "kim", "password": PASSWORD})
    token = registry_token(gateway, "kim")
    assert admin.delete("/users/kim").status_code == 204
    assert registry_answer(gateway, token=token).status_code == 401
    assert admin.get("/users/kim").status_code == 404
    assert admin.delete("/users/kim").status_code == 404
    services = gateway.services()
    try:
        with services.database.engine.connect() as connection:
            events = connection.exec_driver_sql(
                "select event, detail from audit_events where username = 'kim'"
            ).all()
    finally:
        services.close()
    # Each change is audited once, with the acting admin.
    actors = [
        (event, (json.loads(detail) if isinstance(detail, str) else detail).get("actor"))
        for event, detail in events
    ]
    assert [event for event, _ in actors].count("user_created") == 1
    assert ("user_deleted", "admin") in actors and ("user_created", "admin") in actors


def test_directory_users_are_read_only_but_can_be_disabled(gateway, admin):
    services = gateway.services()
    try:
        identity = Identity(provider="corp-ldap", subject="uuid-1", username="lena", groups=("drone-pilots",))
        services.accounts.claim(identity)
        session = services.sessions.create(identity, services.sso.session_lifetime)
    finally:
        services.close()
    lena = admin.get("/users/lena").json()
    assert lena["readOnly"] is True and lena["provider"] == "corp-ldap"
    assert lena["groups"] == ["drone-pilots"]
    response = admin.put("/users/lena", json={"email": "lena@example.org"})
    assert response.status_code == 409 and "corp-ldap" in response.json()["error"]
    assert admin.put("/users/lena/changepwd", json={"newPassword": NEW_PASSWORD}).status_code == 409
    assert admin.put("/users/lena", json={"enabled": False}).json()["enabled"] is False
    services = gateway.services()
    try:
        assert services.sessions.get_active(session.id) is None
    finally:
        services.close()


@pytest.mark.parametrize("name", ["..", "%00", "a" * 300, "x%2Fy", "ünï", "<script>"])
def test_hostile_names_in_the_path_are_404_not_500(admin, name):
    response = admin.get(f"/users/{name}")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")


def test_the_openapi_document_describes_the_users_api(gateway):
    document = requests.get(f"{gateway.url}/admin/api/openapi.json", timeout=30).json()
    assert document["openapi"].startswith("3.")
    assert {"get", "post"} <= set(document["paths"]["/admin/api/users"])
    assert "/api/token" in document["paths"]
    assert "UserDetail" in document["components"]["schemas"]


def _user_with_api_key_and_app_password(gateway, admin, username: str) -> tuple[str, str]:
    """Create the local user ``username``, and as them an API key and an app password."""
    admin.post("/users", json={"userName": username, "password": PASSWORD})
    person = AdminClient.login(gateway.url, username, PASSWORD)
    key = next(
        v
        for v in person.post("/me/api-keys", json={"name": "ci"}).json().values()
        if isinstance(v, str) and v.startswith("gwak_")
    )
    app = next(
        v
        for v in person.post("/me/app-passwords", json={"name": "cli"}).json().values()
        if isinstance(v, str) and v.startswith("gwap_")
    )
    return key, app


def test_a_reset_revokes_app_passwords_and_api_keys_and_is_not_for_oneself(gateway, admin):
    key, app = _user_with_api_key_and_app_password(gateway, admin, "nina")
    assert AdminClient(gateway.url, key).get("/me").status_code == 200
    assert admin.put("/users/nina/changepwd", json={"newPassword": NEW_PASSWORD}).status_code == 204
    assert AdminClient(gateway.url, key).get("/me").status_code == 401
    assert registry_answer(gateway, username="nina", password=app).status_code == 401
    own = admin.put("/users/admin/changepwd", json={"newPassword": NEW_PASSWORD})
    assert own.status_code == 409 and "current" in own.json()["error"]


@pytest.mark.parametrize(
    "path, body, field",
    [
        ("/users", {"userName": "olga", "password": PASSWORD, "displayName": "O\x00"}, "displayName"),
        ("/users", {"userName": "olga", "password": PASSWORD, "groups": ["a\x00"]}, "groups"),
        ("/users/carol/meta", {"team": "x\x00"}, "team"),
    ],
)
def test_nul_characters_are_a_400_naming_the_field(admin, path, body, field):
    response = admin.post(path, json=body)
    assert response.status_code == 400 and response.json()["field"] == field


def test_metadata_integers_must_fit_in_64_bits(admin):
    response = admin.post("/users/carol/meta", json={"big": 2**70})
    assert response.status_code == 400 and response.json()["field"] == "big"


def test_deleting_a_user_ends_their_app_passwords_and_api_keys_at_once(gateway, admin):
    key, app = _user_with_api_key_and_app_password(gateway, admin, "omar")
    assert registry_answer(gateway, username="omar", password=app).status_code == 200
    assert admin.delete("/users/omar").status_code == 204
    refused = registry_answer(gateway, username="omar", password=app)
    assert (refused.status_code, refused.json()) == (401, {"error": "invalid credentials"})
    assert AdminClient(gateway.url, key).get("/me").status_code == 401
    services = gateway.services()
    try:
        with services.database.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "select count(*) from app_passwords where username = 'omar'"
            ).scalar_one()
    finally:
        services.close()
    assert rows == 0
