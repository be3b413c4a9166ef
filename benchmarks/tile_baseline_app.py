"""The least a cached password check can cost, for ``benchmarks/tile_run.py``.

Parses the form, computes one HMAC-SHA256 of username and password, looks it up in a dict and
returns the JSON object the Registry would get. No logging, no metrics, no throttle, no mapping.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from flask import Flask, jsonify, request

_KEY = os.urandom(32)


def _digest(username: str, password: str) -> bytes:
    return hmac.new(_KEY, f"{username}\x00{password}".encode(), hashlib.sha256).digest()


_VERIFIED = {
    _digest(username, password): {"username": username, "roles": ["pilot"], "maxStorageMB": 51200}
    for username, password in (
        line.split(":", 1) for line in os.environ["BENCH_CREDENTIALS"].split("\n") if line
    )
}

app = Flask(__name__)


@app.post("/login")
def login():
    form = request.form
    answer = _VERIFIED.get(_digest(form.get("username", ""), form.get("password", "")))
    if answer is None:
        return jsonify({"error": "invalid credentials"}), 401
    return jsonify(answer)
