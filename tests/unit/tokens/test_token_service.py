"""KeyRing and TokenService: minting, verification, rotation and multi-worker key sharing.

DB-backed (a temporary SQLite file) but socket-free.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select

from gateway.storage.db import Database
from gateway.storage.models import SigningKey
from gateway.tokens import (
    InvalidToken,
    KeyCipher,
    KeyDecryptionError,
    KeyRing,
    NoSigningKeyError,
    TokenService,
    generate_secret,
    jwk_thumbprint,
)

ISS = "https://auth.example.com"
AUD = "dronedb-registry"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
SECRET = generate_secret()


class Clock:
    """A settable wall clock."""

    def __init__(self, now: datetime | None = None):
        self.now = now or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


class Ticker:
    """A settable monotonic clock."""

    def __init__(self):
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


def make_db(path) -> Database:
    db = Database(f"sqlite:///{path}/t.db")
    db.upgrade()
    return db


class Env:
    def __init__(self, path, algorithm="ES256", **ring_kwargs):
        self.db = make_db(path)
        self.clock = Clock()
        self.ring = KeyRing(self.db, KeyCipher(SECRET), algorithm, clock=self.clock, **ring_kwargs)
        self.kid = self.ring.ensure_signing_key()
        self.service = TokenService(self.ring, ISS, AUD, timedelta(minutes=5), clock=self.clock)

    def ts(self, offset: int = 0) -> int:
        """The clock's time as a NumericDate, plus ``offset`` seconds."""
        return int(self.clock().timestamp()) + offset

    def claims(self, **overrides):
        now = self.ts()
        claims = {
            "iss": ISS,
            "aud": AUD,
            "sub": "alice",
            "sid": "session-1",
            "jti": "j1",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not DROP}

    def forge(self, header=None, key=None, algorithm=None, **claims) -> str:
        """A token signed by this ring's key (or ``key``), with header/claim overrides."""
        kid, alg, private = self.ring.signing_key()
        headers = {"kid": kid, "typ": "xauth+jwt", **(header or {})}
        return jwt.encode(self.claims(**claims), key or private, algorithm=algorithm or alg, headers=headers)


DROP = object()


def b64(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw(header: dict, payload, signature: bytes = b"") -> str:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return f"{b64(json.dumps(header))}.{b64(body)}.{b64(signature)}"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return Env(tmp_path_factory.mktemp("tokens"))


# -- happy paths ---------------------------------------------------------------------------


def test_mint_and_verify_round_trip(env):
    token = env.service.mint("alice", "session-1")
    verified = env.service.verify(token)
    assert verified.username == "alice"
    assert verified.session_id == "session-1"
    assert verified.jti
    assert verified.expires_at == env.clock() + timedelta(minutes=5)

    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": env.kid, "typ": "xauth+jwt"}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == ISS and claims["aud"] == AUD
    assert claims["nbf"] == claims["iat"] == int(env.clock().timestamp())


def test_jti_is_unique_per_token(env):
    a = env.service.verify(env.service.mint("alice", "s"))
    b = env.service.verify(env.service.mint("alice", "s"))
    assert a.jti != b.jti


def test_token_never_outlives_the_session(env):
    session_end = env.clock() + timedelta(seconds=90, microseconds=500_000)
    verified = env.service.verify(env.service.mint("alice", "s", expires_at=session_end))
    assert verified.expires_at == env.clock() + timedelta(seconds=90)
    far = env.clock() + timedelta(days=1)
    assert env.service.verify(
        env.service.mint("alice", "s", expires_at=far)
    ).expires_at == env.clock() + timedelta(minutes=5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"username": ""},
        {"session_id": ""},
        {"expires_at": datetime(2000, 1, 1, tzinfo=UTC)},
        {"expires_at": datetime(2999, 1, 1)},  # naive
    ],
)
def test_mint_rejects_bad_arguments(env, kwargs):
    args = {"username": "alice", "session_id": "s", **kwargs}
    with pytest.raises(ValueError):
        env.service.mint(**args)


@pytest.mark.parametrize("algorithm, kty", [("ES256", "EC"), ("EdDSA", "OKP"), ("RS256", "RSA")])
def test_every_algorithm_round_trips(tmp_path, algorithm, kty):
    e = Env(tmp_path, algorithm)
    verified = e.service.verify(e.service.mint("bob", "sid-9"))
    assert (verified.username, verified.session_id) == ("bob", "sid-9")
    [jwk] = e.ring.jwks()["keys"]
    assert jwk["kty"] == kty and jwk["alg"] == algorithm and jwk["use"] == "sig"
    assert jwk["kid"] == e.kid == jwk_thumbprint(jwk)
    assert not PRIVATE_MEMBERS & set(jwk)
    if algorithm == "RS256":
        assert e.ring.signing_key()[2].key_size == 3072
    # The published JWK really is the verification key.
    public = jwt.PyJWK(jwk).key
    assert (
        jwt.decode(e.service.mint("bob", "s"), public, algorithms=[algorithm], audience=AUD)["sub"] == "bob"
    )


def test_rfc7638_thumbprint_example():
    jwk = {
        "kty": "RSA",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
            "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qvzq"
            "Y368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0"
            "fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_private_keys_are_encrypted_at_rest(env):
    with env.db.session() as session:
        row = session.get(SigningKey, env.kid)
        assert b"PRIVATE KEY" not in row.private_key
        assert not PRIVATE_MEMBERS & set(row.public_jwk)
        pem = KeyCipher(SECRET).decrypt(row.private_key)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS8


def test_unsupported_algorithm_is_rejected(env):
    for algorithm in ("HS256", "none", "ES384", "PS256"):
        with pytest.raises(ValueError, match="unsupported"):
            KeyRing(env.db, KeyCipher(SECRET), algorithm)


# -- negative verification, table driven -----------------------------------------------------


def _hs256_with_public_key(e: Env) -> str:
    """The classic confusion attack: HMAC keyed with the published public key."""
    _, _, private = e.ring.signing_key()
    secret = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "kid": e.kid, "typ": "xauth+jwt"}
    signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(e.claims()))}"
    return f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def _hmac_signature_under_es256_header(e: Env) -> str:
    header = {"alg": "ES256", "kid": e.kid, "typ": "xauth+jwt"}
    signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(e.claims()))}"
    mac = hmac.new(json.dumps(e.ring.jwks()).encode(), signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{b64(mac.digest())}"


def _tampered_payload(e: Env) -> str:
    header, _, signature = e.forge().split(".")
    return f"{header}.{b64(json.dumps(e.claims(sub='admin')))}.{signature}"


def _bytes_payload(e: Env, payload: bytes) -> str:
    _, alg, private = e.ring.signing_key()
    return jwt.api_jws.encode(payload, private, algorithm=alg, headers={"kid": e.kid, "typ": "xauth+jwt"})


def _duplicate_kid(e: Env) -> str:
    """A header naming two kids: json.loads keeps the last (ours), another reader the first."""
    header = f'{{"alg": "ES256", "kid": "other", "typ": "xauth+jwt", "kid": {json.dumps(e.kid)}}}'
    return f"{b64(header)}.{b64(json.dumps(e.claims()))}."


CASES = {
    # name: (factory(env) -> token, reason)
    "empty": (lambda e: "", "malformed"),
    "not a jwt": (lambda e: "hello", "malformed"),
    "three junk parts": (lambda e: "a.b.c", "malformed"),
    "non-ascii": (lambda e: "é" + e.forge(), "malformed"),
    "too long": (lambda e: e.forge(pad="x" * 8200), "malformed"),
    "too long junk": (lambda e: "a" * (8 * 1024 + 1), "malformed"),
    "header not json": (lambda e: f"{b64('{nope')}.{b64('{}')}.", "malformed"),
    "header is a list": (lambda e: f"{b64('[1]')}.{b64('{}')}.", "malformed"),
    "payload not json": (lambda e: _bytes_payload(e, b"not json"), "malformed"),
    "payload is a list": (lambda e: _bytes_payload(e, b"[1, 2]"), "malformed"),
    "header with a duplicate kid": (_duplicate_kid, "malformed"),
    "header nested deeper than 64": (
        lambda e: raw(
            {"alg": "ES256", "kid": e.kid, "typ": "xauth+jwt", "x": json.loads("[" * 70 + "]" * 70)},
            e.claims(),
        ),
        "malformed",
    ),
    "kid not a string": (lambda e: raw({"alg": "ES256", "kid": 7, "typ": "xauth+jwt"}, {}), "malformed"),
    "typ missing": (lambda e: e.forge(header={"typ": None}), "bad_typ"),
    "typ JWT": (lambda e: e.forge(header={"typ": "JWT"}), "bad_typ"),
    "typ other case": (lambda e: e.forge(header={"typ": "XAUTH+JWT"}), "bad_typ"),
    "kid missing": (lambda e: raw({"alg": "ES256", "typ": "xauth+jwt"}, e.claims()), "unknown_kid"),
    "kid unknown": (lambda e: e.forge(header={"kid": "no-such-kid"}), "unknown_kid"),
    "alg none": (
        lambda e: raw({"alg": "none", "kid": e.kid, "typ": "xauth+jwt"}, e.claims()),
        "alg_mismatch",
    ),
    "alg missing": (lambda e: raw({"kid": e.kid, "typ": "xauth+jwt"}, e.claims()), "alg_mismatch"),
    "HS256 keyed with public key": (_hs256_with_public_key, "alg_mismatch"),
    "HMAC bytes under ES256 header": (_hmac_signature_under_es256_header, "bad_signature"),
    "other key, same kid": (lambda e: e.forge(key=ec.generate_private_key(ec.SECP256R1())), "bad_signature"),
    "tampered payload": (_tampered_payload, "bad_signature"),
    "signature stripped": (lambda e: e.forge().rsplit(".", 1)[0] + ".", "bad_signature"),
    "expired beyond leeway": (lambda e: e.forge(exp=e.ts(-31)), "expired"),
    "expired exactly at leeway": (lambda e: e.forge(exp=e.ts(-30)), "expired"),
    "nbf in future": (lambda e: e.forge(nbf=e.ts(31)), "not_yet_valid"),
    "iat in future": (lambda e: e.forge(iat=e.ts(31)), "not_yet_valid"),
    "wrong issuer": (lambda e: e.forge(iss="https://evil.example.com"), "bad_issuer"),
    "wrong audience": (lambda e: e.forge(aud="someone-else"), "bad_audience"),
    "audience list": (lambda e: e.forge(aud=[AUD, "other"]), "bad_audience"),
    "empty sub": (lambda e: e.forge(sub=""), "missing_claim"),
    "empty sid": (lambda e: e.forge(sid=""), "missing_claim"),
    "sid not a string": (lambda e: e.forge(sid=42), "missing_claim"),
    "sub not a string": (lambda e: e.forge(sub=["alice"]), "missing_claim"),
    "exp not a number": (lambda e: e.forge(exp="tomorrow"), "malformed"),
    "exp boolean": (lambda e: e.forge(exp=True), "malformed"),
    "exp infinite": (lambda e: e.forge(exp=float("inf")), "malformed"),
    "exp astronomically large": (lambda e: e.forge(exp=10**400), "malformed"),
    "exp beyond datetime": (lambda e: e.forge(exp=10**15), "malformed"),
    **{
        f"{claim} missing": (lambda e, c=claim: e.forge(**{c: DROP}), "missing_claim")
        for claim in ("exp", "iat", "nbf", "iss", "aud", "sub", "sid", "jti")
    },
}


@pytest.mark.parametrize("name", list(CASES))
def test_verify_rejects(env, name):
    factory, reason = CASES[name]
    with pytest.raises(InvalidToken) as raised:
        env.service.verify(factory(env))
    assert raised.value.reason == reason


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": -29},
        {"nbf": 29},
        {"iat": 29},
        {"exp": 1},
    ],
)
def test_leeway_tolerates_small_clock_skew(env, claims):
    token = env.forge(**{k: env.ts(v) for k, v in claims.items()})
    assert env.service.verify(token).username == "alice"


def test_token_just_under_the_size_limit_verifies(env):
    token = env.forge(pad="x" * 5800)
    assert 8000 < len(token) <= 8 * 1024
    env.service.verify(token)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text())
def test_random_text_only_ever_raises_invalid_token(env, text):
    with pytest.raises(InvalidToken):
        env.service.verify(text)


_header_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["ES256", "EdDSA", "RS256", "HS256", "none", "xauth+jwt", "JWT"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "jku", "b64"]), _header_values, max_size=5
    ),
    use_real_kid=st.booleans(),
    payload=st.one_of(st.binary(max_size=64), _json),
    signature=st.binary(max_size=600),
)
def test_structured_junk_only_ever_raises_invalid_token(env, header, use_real_kid, payload, signature):
    if use_real_kid:
        header = {**header, "kid": env.kid, "typ": "xauth+jwt"}
    with pytest.raises(InvalidToken):
        env.service.verify(raw(header, payload, signature))


# -- keys: rotation, expiry, sharing between workers ---------------------------------------


def _kids(jwks: dict) -> set[str]:
    return {k["kid"] for k in jwks["keys"]}


def test_rotation_overlap_then_retired_key_expires(tmp_path):
    e = Env(tmp_path)
    old_token = e.service.mint("alice", "s1")
    new_kid = e.ring.rotate(retire_after=timedelta(minutes=10))
    assert new_kid != e.kid
    assert e.ring.signing_key()[0] == new_kid
    new_token = e.service.mint("alice", "s1")
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid

    assert e.service.verify(old_token).username == "alice"
    assert e.service.verify(new_token).username == "alice"
    jwks = e.ring.jwks()
    assert _kids(jwks) == {e.kid, new_kid}
    for jwk in jwks["keys"]:
        assert not PRIVATE_MEMBERS & set(jwk)
    states = {k["kid"]: k["state"] for k in e.ring.list_keys()}
    assert states == {e.kid: "retiring", new_kid: "active"}

    e.clock.advance(minutes=4)
    assert e.service.verify(old_token).username == "alice"

    e.clock.advance(minutes=6, seconds=1)  # the retired key's expiry has passed
    with pytest.raises(InvalidToken) as raised:
        e.service.verify(old_token)
    assert raised.value.reason == "unknown_kid"
    assert _kids(e.ring.jwks()) == {new_kid}
    assert {k["kid"]: k["state"] for k in e.ring.list_keys()}[e.kid] == "expired"

    assert e.ring.purge_expired() == 1
    assert [k["kid"] for k in e.ring.list_keys()] == [new_kid]


def test_rotate_rejects_negative_overlap(env):
    with pytest.raises(ValueError):
        env.ring.rotate(timedelta(seconds=-1))


def test_second_worker_sees_rotation_immediately(tmp_path):
    url = f"sqlite:///{tmp_path}/t.db"
    make_db(tmp_path)
    tick = Ticker()
    ring1 = KeyRing(Database(url), KeyCipher(SECRET))
    ring2 = KeyRing(Database(url), KeyCipher(SECRET), monotonic=tick)
    first = ring1.ensure_signing_key()
    assert ring2.ensure_signing_key() == first  # the second worker adopts the existing key
    service1 = TokenService(ring1, ISS, AUD, timedelta(minutes=5))
    service2 = TokenService(ring2, ISS, AUD, timedelta(minutes=5))
    assert service2.verify(service1.mint("alice", "s")).username == "alice"

    new_kid = ring1.rotate(timedelta(minutes=10))
    # Until its cache goes stale, worker 2 still signs with the retiring key, which verifies.
    assert ring2.signing_key()[0] == first
    assert service1.verify(service2.mint("bob", "s")).username == "bob"
    tick.value += 30
    assert ring2.signing_key()[0] == new_kid

    # A token from a key worker 2 has never seen verifies at once (unknown kid → reload).
    newest = ring1.rotate(timedelta(minutes=10))
    token = service1.mint("alice", "s")
    assert jwt.get_unverified_header(token)["kid"] == newest
    assert service2.verify(token).username == "alice"
    assert ring2.signing_key()[0] == newest  # that reload refreshed everything


def test_unknown_kids_reload_at_most_once_per_interval(env):
    tick = Ticker()
    ring = KeyRing(env.db, KeyCipher(SECRET), monotonic=tick)
    ring.ensure_signing_key()
    loads = []

    def count(conn, cursor, statement, *args):
        if "FROM signing_keys" in statement:
            loads.append(statement)

    event.listen(env.db.engine, "before_cursor_execute", count)
    try:
        for i in range(50):
            assert ring.verification_key(f"junk-{i}") is None
        assert len(loads) == 1
        tick.value += 2.01
        assert ring.verification_key("junk-again") is None
        assert len(loads) == 2
        assert ring.verification_key(env.kid) is not None  # cached: no query
        assert len(loads) == 2
    finally:
        event.remove(env.db.engine, "before_cursor_execute", count)


def test_cache_refreshes_after_cache_seconds(env):
    tick = Ticker()
    ring = KeyRing(env.db, KeyCipher(SECRET), cache_seconds=30, monotonic=tick)
    ring.ensure_signing_key()
    before = ring._state
    tick.value += 29
    ring.jwks()
    assert ring._state is before
    tick.value += 1
    ring.jwks()
    assert ring._state is not before


def test_racing_first_key_creation_converges(tmp_path):
    db = make_db(tmp_path)
    ring1 = KeyRing(db, KeyCipher(SECRET))
    ring2 = KeyRing(db, KeyCipher(SECRET))
    winner = {}
    original = ring2._new_row

    def slow_new_row():
        row = original()
        winner["kid"] = ring1.ensure_signing_key()  # the other process finishes first
        return row

    ring2._new_row = slow_new_row
    assert ring2.ensure_signing_key() == winner["kid"]
    assert len(ring1.list_keys()) == 1


def test_two_active_keys_newest_signs(tmp_path):
    e = Env(tmp_path)
    e.clock.advance(seconds=1)
    row = e.ring._new_row()  # as if another process also won the race
    with e.db.session() as session:
        session.add(row)
    other = KeyRing(e.db, KeyCipher(SECRET))
    assert other.signing_key()[0] == row.kid
    assert e.ring.ensure_signing_key() == row.kid
    assert _kids(e.ring.jwks()) == {e.kid, row.kid}


def test_signing_without_a_key_is_a_clear_error(tmp_path):
    ring = KeyRing(make_db(tmp_path), KeyCipher(SECRET))
    with pytest.raises(NoSigningKeyError):
        ring.signing_key()
    assert ring.verification_key("anything") is None
    assert ring.jwks() == {"keys": []}


def test_wrong_encryption_secret_fails_loudly(env):
    ring = KeyRing(env.db, KeyCipher(generate_secret()))
    with pytest.raises(KeyDecryptionError, match="GATEWAY_KEY_ENCRYPTION_KEY"):
        ring.ensure_signing_key()


def test_row_whose_key_does_not_match_its_kid_is_ignored(tmp_path):
    e = Env(tmp_path)
    forged = e.ring._new_row()
    with e.db.session() as session:
        genuine = session.get(SigningKey, e.kid)
        forged.private_key = genuine.private_key  # a real key filed under another kid
        forged.retired_at = forged.expires_at = None
        session.add(forged)
    ring = KeyRing(e.db, KeyCipher(SECRET))
    assert ring.verification_key(forged.kid) is None
    assert _kids(ring.jwks()) == {e.kid}


def test_concurrent_use_from_threads(tmp_path):
    e = Env(tmp_path, cache_seconds=0)  # force a reload on every call
    errors = []

    def work():
        try:
            for _ in range(20):
                assert e.service.verify(e.service.mint("alice", "s")).username == "alice"
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_list_keys_reports_metadata(env):
    [key] = [k for k in env.ring.list_keys() if k["kid"] == env.kid]
    assert key["alg"] == "ES256" and key["state"] == "active"
    assert key["created_at"].tzinfo is not None
    assert key["retired_at"] is None and key["expires_at"] is None
    with env.db.session() as session:
        assert session.scalar(select(SigningKey.algorithm).where(SigningKey.kid == env.kid)) == "ES256"


def test_deeply_nested_header_is_malformed_not_a_crash(tmp_path):
    """A header of 5000 nested arrays must not raise RecursionError (a 500) but InvalidToken."""
    import base64

    from gateway.tokens import InvalidToken
    from gateway.tokens.service import _unverified_header

    nested = base64.urlsafe_b64encode(b"[" * 5000).rstrip(b"=").decode()
    for token in (f"{nested}.e30.sig", f"{'A' * 2000}.e30.sig"):
        try:
            _unverified_header(token)
        except InvalidToken as error:
            assert error.reason == "malformed"
        else:
            raise AssertionError("accepted a hostile header")
