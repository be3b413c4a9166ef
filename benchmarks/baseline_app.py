"""The floor the gateway is measured against: a bare Flask app doing only the unavoidable work.

``POST /verify``: parse the form, ``jwt.decode`` the ``token`` field with the same algorithm,
key, audience and issuer as the gateway, answer a tiny JSON.
``POST /login``: parse the form, ``argon2`` verify ``password`` against one stored hash made with
the gateway's default parameters, answer a tiny JSON (401 on mismatch).

Nothing else (no database, no logging, no request ids): whatever the gateway costs beyond this
is its own overhead. Configured by ``benchmarks/run.py`` through the environment:

- ``BENCH_JWK_FILE``: a file holding the gateway's public JWK (from its ``/.well-known/jwks.json``)
- ``BENCH_AUDIENCE``, ``BENCH_ISSUER``: the claims the gateway's tokens carry
- ``BENCH_PASSWORD_HASH``: an argon2id hash (t=2, m=19456 KiB, p=1) of the benchmark password
"""

from __future__ import annotations

import json
import os

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from flask import Flask, jsonify, request

ALGORITHM = "ES256"

with open(os.environ["BENCH_JWK_FILE"], encoding="utf-8") as _handle:
    PUBLIC_KEY = jwt.PyJWK(json.load(_handle), algorithm=ALGORITHM).key
AUDIENCE = os.environ["BENCH_AUDIENCE"]
ISSUER = os.environ["BENCH_ISSUER"]
STORED_HASH = os.environ["BENCH_PASSWORD_HASH"]
HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

app = Flask(__name__)


@app.post("/verify")
def verify():
    token = request.form["token"]
    try:
        claims = jwt.decode(token, PUBLIC_KEY, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER)
    except jwt.InvalidTokenError:
        return jsonify({"error": "invalid token"}), 401
    return jsonify({"username": claims["sub"]})


@app.post("/login")
def login():
    username = request.form["username"]
    password = request.form["password"]
    try:
        HASHER.verify(STORED_HASH, password)
    except VerificationError:
        return jsonify({"error": "invalid credentials"}), 401
    return jsonify({"username": username})
