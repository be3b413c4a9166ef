"""Checks of an LDAP provider's configuration, for an admin setting a directory up: each server
reached step by step, a user searched for, that user's groups and how each was found.

Every function takes a validated ``type: ldap`` section (without ``id`` and ``type``), so a
saved configuration and an unsaved one are checked alike. Nothing here binds as a user or
takes a password; the service account's password is used for its bind and never reported.
A directory that fails is a result (``ok: false`` and why), never an exception, and every
network step is bounded by the configured timeouts.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import ldap3

from providers.base import Identity, ProviderUnavailable, Rejection
from providers.ldap.config import ldap_settings
from providers.ldap.connections import describe, ldap3_server, parse_server_url, tls_for
from providers.ldap.entries import Entry, dn_with, filter_with
from providers.ldap.groups import Group
from providers.ldap.provider import LdapProvider
from providers.ldap.settings import IN_CHAIN, LdapSettings
from providers.ldap.trial import logs_as_notes

Canonical = Callable[[str], str | None]

# An attribute a login reads is shown, unless its name says it holds a secret.
_SECRET_MARKS = ("password", "pwd", "secret", "unicodepwd")
_MAX_VALUES = 20
_MAX_VALUE_CHARS = 256
_NO_SUCH_OBJECT = 32


def test_connection(provider_id: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Each server of the failover list on its own: DNS, TCP, TLS (LDAPS or StartTLS, with
    the certificate's verification), the service account's bind (anonymous when there is
    none) and a read of the user base. ``{ok, type, servers: [{url, ok, steps: [{step, ok,
    ms, detail}]}]}``; ``ok`` of a step is None when it was skipped or is only a warning."""
    settings = ldap_settings(dict(options))
    # The whole check fits a login's time budget: servers not started by then are skipped.
    deadline = time.monotonic() + settings.time_budget
    servers = []
    for url in settings.servers:
        if time.monotonic() > deadline:
            skipped = f"not checked: the check's time budget ({settings.time_budget:g} s) ran out"
            servers.append(
                {
                    "url": url,
                    "ok": False,
                    "steps": [{"step": "skipped", "ok": None, "ms": 0, "detail": skipped}],
                }
            )
            continue
        servers.append(_check_server(url, settings))
    return {"ok": any(server["ok"] for server in servers), "type": "ldap", "servers": servers}


def search_user(
    provider_id: str, options: Mapping[str, Any], canonical: Canonical, username: str
) -> dict[str, Any]:
    """The search a login of ``username`` would send (filter escaped once, base, scope) and the
    entry it finds, with the attributes a login reads; no bind as the user."""
    result, _entry, _provider = _search(provider_id, options, canonical, username)
    return result


def show_groups(
    provider_id: str, options: Mapping[str, Any], canonical: Canonical, username: str
) -> tuple[dict[str, Any], Identity | None]:
    """The groups a login of ``username`` would find, each with the strategy that found it,
    its nesting depth and the path of groups that led to it; and the identity a login would
    answer (None when the user was not found or the directory failed), for a mapping
    preview."""
    result, entry, provider = _search(provider_id, options, canonical, username)
    if entry is None:
        return {**result, "groups": []}, None
    steps: list[dict[str, str]] = result["steps"]
    try:
        with logs_as_notes("providers.ldap", _noter(steps)):
            groups, identity = provider.entry_groups(username, entry, _noter(steps))
    except ProviderUnavailable as error:
        return {**result, "ok": False, "outcome": "unavailable", "detail": error.reason, "groups": []}, None
    finally:
        provider.close()
    return {
        **result,
        "groups": _described(groups, provider.settings),
        "matchedNames": list(identity.groups),
    }, identity


# -- the connection checks ---------------------------------------------------------------------


class _Steps:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, step: str, ok: bool | None, started: float, detail: str) -> bool | None:
        ms = round((time.monotonic() - started) * 1000)
        self.items.append({"step": step, "ok": ok, "ms": ms, "detail": detail})
        return ok


def _check_server(url: str, settings: LdapSettings) -> dict[str, Any]:
    steps = _Steps()
    ok = _server_steps(url, settings, steps)
    return {"url": url, "ok": ok, "steps": steps.items}


def _server_steps(url: str, settings: LdapSettings, steps: _Steps) -> bool:
    host, port, use_ssl = parse_server_url(url)
    started = time.monotonic()
    addresses, error = _resolve(host, port, settings.connect_timeout)
    if not addresses:
        steps.add("dns", False, started, f"{host} does not resolve: {error}")
        return False
    steps.add("dns", True, started, f"{host} -> {', '.join(addresses[:4])}")
    started = time.monotonic()
    try:
        with socket.create_connection((addresses[0], port), timeout=settings.connect_timeout):
            pass
    except OSError as failure:
        steps.add("tcp", False, started, f"{addresses[0]} port {port}: {describe(failure)}")
        return False
    steps.add("tcp", True, started, f"{addresses[0]} port {port} accepts connections")
    connection = ldap3.Connection(
        ldap3_server(host, port, use_ssl, tls_for(settings, host), settings),
        user=settings.bind_dn,
        password=settings.bind_password,
        authentication=ldap3.SIMPLE,
        client_strategy=ldap3.SYNC,
        auto_bind=ldap3.AUTO_BIND_NONE,
        read_only=True,
        receive_timeout=int(settings.operation_timeout),
        raise_exceptions=False,
        check_names=False,
        auto_referrals=False,
    )
    try:
        return _tls_bind_read(connection, settings, use_ssl, steps)
    finally:
        connection.password = connection.request = None
        try:
            connection.unbind()
        except Exception:
            pass


def _tls_bind_read(
    connection: ldap3.Connection, settings: LdapSettings, use_ssl: bool, steps: _Steps
) -> bool:
    tls = "LDAPS" if use_ssl else "StartTLS" if settings.start_tls else None
    started = time.monotonic()
    try:
        connection.open()
        if tls == "StartTLS" and not connection.start_tls():
            raise ConnectionError(f"StartTLS refused: {connection.result.get('description')}")
    except Exception as failure:
        what = f"{tls} handshake" if tls else "LDAP connection"
        steps.add("tls" if tls else "connect", False, started, f"{what} failed: {_reason(failure)}")
        return False
    if tls:
        steps.add("tls", True, started, f"{tls}: certificate verified; {_certificate(connection)}")
    else:
        steps.add(
            "tls",
            None,
            started,
            "not used (ldap:// without start_tls): passwords would cross the network in clear",
        )
    started = time.monotonic()
    try:
        if settings.bind_dn is None:
            steps.add("bind", None, started, "no service account (bind:): searches are anonymous")
        elif connection.bind():
            steps.add("bind", True, started, f"service account {settings.bind_dn} bound")
        else:
            result = connection.result or {}
            steps.add(
                "bind",
                False,
                started,
                f"service account {settings.bind_dn} refused: result {result.get('result')} "
                f"({result.get('description')})",
            )
            return False
    except Exception as failure:
        steps.add("bind", False, started, f"service bind failed: {_reason(failure)}")
        return False
    started = time.monotonic()
    base = settings.user.base
    try:
        connection.search(base, "(objectClass=*)", ldap3.BASE, attributes=[ldap3.NO_ATTRIBUTES], time_limit=2)
        code = (connection.result or {}).get("result")
    except Exception as failure:
        steps.add("base", False, started, f"reading user.base {base!r} failed: {_reason(failure)}")
        return False
    if code == 0:
        steps.add("base", True, started, f"user.base {base!r} is readable")
        return True
    why = "does not exist" if code == _NO_SUCH_OBJECT else f"result {code}"
    steps.add("base", False, started, f"user.base {base!r} cannot be read: {why}")
    return False


def _resolve(host: str, port: int, timeout: float) -> tuple[list[str], str]:
    """The addresses of ``host``, or [] and why; the system resolver gets ``timeout`` seconds
    (it runs on a thread of its own, as getaddrinfo takes no timeout)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["found"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            box["error"] = describe(error)

    thread = threading.Thread(target=run, name="ldap-diagnose-dns", daemon=True)
    thread.start()
    thread.join(timeout)
    if "found" in box:
        return list(dict.fromkeys(str(info[4][0]) for info in box["found"])), ""
    return [], box.get("error", f"no answer within {timeout:g} s")


def _certificate(connection: ldap3.Connection) -> str:
    try:
        peer = connection.socket.getpeercert()
        version = connection.socket.version()
    except Exception:
        return "certificate details unavailable"
    subject = dict(part[0] for part in peer.get("subject", ()) if part)
    issuer = dict(part[0] for part in peer.get("issuer", ()) if part)
    issued_by = issuer.get("commonName", issuer.get("organizationName", "?"))
    return (
        f"{version}, subject {subject.get('commonName', '?')}, issued by {issued_by}, "
        f"valid until {peer.get('notAfter', '?')}"
    )


def _reason(error: BaseException) -> str:
    text = describe(error)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return f"the server's certificate is not trusted ({text}); set tls.ca_file to the CA that issued it"
    if "hostname" in text.lower() and "match" in text.lower():
        return f"the certificate does not name this host ({text})"
    return text


# -- the user and group checks -----------------------------------------------------------------


def _noter(steps: list[dict[str, str]]) -> Callable[[str, str], None]:
    def note(step: str, detail: str) -> None:
        steps.append({"step": step, "detail": detail})

    return note


def _search(
    provider_id: str, options: Mapping[str, Any], canonical: Canonical, username: str
) -> tuple[dict[str, Any], Entry | None, LdapProvider]:
    """The search's result dict, the entry found (None otherwise) and the provider used (left
    open when an entry was found, for the group searches; closed otherwise)."""
    settings = ldap_settings(dict(options))
    provider = LdapProvider(provider_id, settings, canonical)
    user = settings.user
    if user.dn_template:
        base, scope, sent = dn_with(user.dn_template, username), "base", "(objectClass=*)"
    else:
        base, scope, sent = user.base, user.scope, filter_with(user.filter, username=username)
    steps: list[dict[str, str]] = []
    result: dict[str, Any] = {
        "ok": False,
        "type": "ldap",
        "username": username,
        "base": base,
        "scope": scope,
        "filter": sent,
        "attributes": provider.user_attributes,
        "outcome": "",
        "detail": "",
        "entry": None,
        "steps": steps,
    }
    if user.dn_template and settings.bind_dn is None:
        provider.close()
        result.update(
            outcome="not_possible",
            detail="user.dn_template without a service account (bind:): the entry can only be read "
            "by binding as the user, which a diagnostic never does",
        )
        return result, None, provider
    try:
        # The provider's own records (a server skipped, and why) become steps too.
        with logs_as_notes("providers.ldap", _noter(steps)):
            found = provider.find_entry(username, _noter(steps))
    except ProviderUnavailable as error:
        provider.close()
        result.update(outcome="unavailable", detail=error.reason)
        return result, None, provider
    if isinstance(found, Rejection):
        provider.close()
        ambiguous = found is Rejection.WRONG_CREDENTIALS
        result.update(
            outcome="ambiguous" if ambiguous else "not_found",
            detail="more than one entry matches the filter: a login would be refused"
            if ambiguous
            else "no entry matches: a login would get 'no such user'",
        )
        return result, None, provider
    result.update(
        ok=True,
        outcome="found",
        detail=f"one entry: {found.dn}",
        entry={"dn": found.dn, "attributes": _shown_attributes(found, provider.user_attributes)},
    )
    return result, found, provider


def _shown_attributes(entry: Entry, names: list[str]) -> dict[str, list[str]]:
    shown: dict[str, list[str]] = {}
    for name in names:
        if any(mark in name.lower() for mark in _SECRET_MARKS):
            continue
        values = entry.values(name)
        if values:
            shown[name] = [value[:_MAX_VALUE_CHARS] for value in values[:_MAX_VALUES]]
    return shown


def _described(groups: list[Group], settings: LdapSettings) -> list[dict[str, Any]]:
    """Each group with the strategy that found it (the direct group's, for a nested one), its
    depth and the path from the direct group up to it."""
    by_dn = {group.dn.lower(): group for group in groups}
    described = []
    for group in groups:
        path = [group]
        while path[0].via and path[0].via.lower() in by_dn and len(path) <= settings.groups.max_depth:
            path.insert(0, by_dn[path[0].via.lower()])
        root = path[0]
        strategy = root.found_by if root.found_by != "nested" else "nested"
        note = "nesting resolved by the directory (AD in-chain rule)" if strategy == IN_CHAIN else ""
        described.append(
            {
                "name": group.name,
                "dn": group.dn,
                "strategy": strategy,
                "nested": group.depth > 0,
                "depth": group.depth,
                "path": [item.name or item.dn for item in path],
                "note": note,
            }
        )
    return described
