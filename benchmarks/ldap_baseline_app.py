"""The floors the gateway's LDAP password path is measured against: hand-written Flask + ldap3.

``POST /login`` (lean): the minimal endpoint a careful developer would write. Per thread, one
reused service connection (``get_info=NONE``) for the user search and the group search; the
user bind on a new connection of its own. Nothing else: no failover, no time budget, no
account state, no mapping, no logging.

``POST /naive``: the same three steps written the way ldap3's tutorial reads: a default
``ldap3.Server()`` (which reads the server's schema and root DSE again at every bind)
and new connections for the search and for the bind. The Server is made per request: ldap3's
Server object is not thread-safe, and one shared by the threads gave occasional errors.

Configured by ``benchmarks/ldap_run.py`` through the environment: ``BENCH_LDAP_HOST``,
``BENCH_LDAP_PORT``, ``BENCH_LDAP_SERVICE_DN``, ``BENCH_LDAP_SERVICE_PASSWORD``,
``BENCH_LDAP_USER_BASE``, ``BENCH_LDAP_GROUP_BASE``.
"""

from __future__ import annotations

import os
import threading

import ldap3
from flask import Flask, jsonify, request
from ldap3.utils.conv import escape_filter_chars

HOST = os.environ["BENCH_LDAP_HOST"]
PORT = int(os.environ["BENCH_LDAP_PORT"])
SERVICE_DN = os.environ["BENCH_LDAP_SERVICE_DN"]
SERVICE_PASSWORD = os.environ["BENCH_LDAP_SERVICE_PASSWORD"]
USER_BASE = os.environ["BENCH_LDAP_USER_BASE"]
GROUP_BASE = os.environ["BENCH_LDAP_GROUP_BASE"]
USER_FILTER = "(&(objectClass=inetOrgPerson)(uid={}))"
GROUP_FILTER = "(|(member={0})(uniqueMember={0}))"  # the gateway's default member filter

LEAN_SERVER = ldap3.Server(HOST, port=PORT, get_info=ldap3.NONE)
_local = threading.local()

app = Flask(__name__)


def _service() -> ldap3.Connection:
    connection = getattr(_local, "service", None)
    if connection is None or connection.closed:
        connection = ldap3.Connection(LEAN_SERVER, SERVICE_DN, SERVICE_PASSWORD, auto_bind=True)
        _local.service = connection
    return connection


def _login(service: ldap3.Connection, server: ldap3.Server, username: str, password: str):
    service.search(
        USER_BASE,
        USER_FILTER.format(escape_filter_chars(username)),
        attributes=["uid", "mail", "displayName", "entryUUID"],
        size_limit=2,
    )
    if len(service.entries) != 1:
        return None
    dn = service.entries[0].entry_dn
    user = ldap3.Connection(server, dn, password)
    try:
        if not user.bind():
            return None
    finally:
        user.unbind()
    service.search(GROUP_BASE, GROUP_FILTER.format(escape_filter_chars(dn)), attributes=["cn"])
    return [str(entry.cn) for entry in service.entries]


def _answer(groups, username):
    if groups is None:
        return jsonify({"error": "invalid credentials"}), 401
    return jsonify({"username": username, "roles": groups})


@app.post("/login")
def lean():
    username, password = request.form["username"], request.form["password"]
    if not password:
        return jsonify({"error": "invalid credentials"}), 401
    return _answer(_login(_service(), LEAN_SERVER, username, password), username)


@app.post("/naive")
def naive():
    username, password = request.form["username"], request.form["password"]
    if not password:
        return jsonify({"error": "invalid credentials"}), 401
    server = ldap3.Server(HOST, port=PORT)  # get_info=SCHEMA, the default: read at every bind
    service = ldap3.Connection(server, SERVICE_DN, SERVICE_PASSWORD, auto_bind=True)
    try:
        return _answer(_login(service, server, username, password), username)
    finally:
        service.unbind()
