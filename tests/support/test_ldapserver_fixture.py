"""The slapd fixture (tests/support/ldapserver.py + tests/support/ldapdata.py) serves what it
promises, checked with ldap3 directly (not through the gateway)."""

from __future__ import annotations

import socket
import ssl
import time

import pytest
from ldap3 import ALL_ATTRIBUTES, BASE, SUBTREE, Connection, Server, Tls
from ldap3.core import exceptions as ldap_exc
from ldap3.protocol.rfc4511 import AuthenticationChoice, BindRequest, Simple, Version
from ldap3.utils.dn import parse_dn

from tests.support import ldapdata as data
from tests.support.ldapserver import BlackholeServer, SlapdServer
from tests.support.servers import wait_for

pytestmark = pytest.mark.integration

TLS_REFUSED = (
    ldap_exc.LDAPSocketOpenError,
    ldap_exc.LDAPStartTLSError,
    ldap_exc.LDAPSocketReceiveError,
    ldap_exc.LDAPSocketSendError,
    ldap_exc.LDAPSessionTerminatedByServerError,
)
EXTRA_USERS = 2000
DEEP_GROUPS = 40


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset():
    return data.openldap_dataset(extra_users=EXTRA_USERS, deep_groups_user_groups=DEEP_GROUPS)


def _serve(tmp_path_factory, name: str, dataset, **options):
    server = SlapdServer.start(tmp_path_factory.mktemp(name), dataset=dataset, **options)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def slapd(tmp_path_factory, dataset):
    """This module's own directory (with generated users), not the session's ``slapd``."""
    yield from _serve(tmp_path_factory, "slapd", dataset)


@pytest.fixture(scope="module")
def anon_slapd(tmp_path_factory):
    yield from _serve(
        tmp_path_factory, "slapd-anon", data.openldap_dataset(), allow_unauthenticated_bind=True
    )


@pytest.fixture(scope="module")
def mtls_slapd(tmp_path_factory):
    yield from _serve(tmp_path_factory, "slapd-mtls", data.openldap_dataset(), require_client_cert=True)


@pytest.fixture()
def ad_slapd(tmp_path):
    server = SlapdServer.start(tmp_path, dataset=data.ad_shaped_dataset())
    yield server
    server.stop()


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def tls(ca_file, client=None) -> Tls:
    kwargs = {}
    if client is not None:
        kwargs = {"local_certificate_file": str(client[0]), "local_private_key_file": str(client[1])}
    return Tls(
        validate=ssl.CERT_REQUIRED, ca_certs_file=str(ca_file), version=ssl.PROTOCOL_TLS_CLIENT, **kwargs
    )


def connect(url, user=None, password=None, *, tls_config=None, start_tls=False, timeout=5) -> Connection:
    server = Server(url, connect_timeout=timeout, tls=tls_config)
    conn = Connection(server, user=user, password=password, receive_timeout=timeout, raise_exceptions=True)
    conn.open()
    if start_tls:
        conn.start_tls()
    if user is not None:
        conn.bind()
    return conn


def whoami(conn) -> str:
    return conn.extend.standard.who_am_i() or ""


def raw_simple_bind(conn, dn: str, password: str = "") -> dict:
    """A simple bind that ldap3's API refuses to send (DN + empty
    password), built from ldap3's own protocol classes."""
    request = BindRequest()
    request["version"] = Version(3)
    request["name"] = dn
    request["authentication"] = AuthenticationChoice().setComponentByName("simple", Simple(password))
    return conn.post_send_single_response(conn.send("bindRequest", request))[-1]


def _unescape(value: str) -> str:
    """RFC 4514 value unescaping (``\\,`` and hex pairs like ``\\2C``)."""
    out, i = bytearray(), 0
    while i < len(value):
        c = value[i]
        if c == "\\":
            pair = value[i + 1 : i + 3]
            if len(pair) == 2 and all(ch in "0123456789abcdefABCDEF" for ch in pair):
                out.append(int(pair, 16))
                i += 3
                continue
            out.extend(value[i + 1].encode())
            i += 2
            continue
        out.extend(c.encode())
        i += 1
    return out.decode()


def norm(dn: str) -> tuple:
    """Comparable form of a DN: slapd answers whoami with hex escapes
    (``\\2C``), searches with the pretty form (``\\,``)."""
    return tuple((a.lower(), _unescape(v).lower()) for a, v, _ in parse_dn(dn, escape=False))


def norm_set(dns) -> set:
    return {norm(d) for d in dns}


def member_of(conn, dn) -> list[str]:
    conn.search(dn, "(objectClass=*)", BASE, attributes=["memberOf"])
    return list(conn.entries[0].entry_attributes_as_dict.get("memberOf", []))


# --------------------------------------------------------------------------
# binds: plain, StartTLS, LDAPS
# --------------------------------------------------------------------------


def test_alice_binds_over_plain_ldap_and_wrong_password_fails(slapd):
    assert slapd.url == f"ldap://127.0.0.1:{slapd.ldap_port}"
    assert slapd.ldaps_url == f"ldaps://127.0.0.1:{slapd.ldaps_port}"
    assert slapd.base_dn == data.OPENLDAP_SUFFIX
    conn = connect(slapd.url, data.ALICE_DN, data.password_for("alice"))
    assert whoami(conn) == f"dn:{data.ALICE_DN}"
    conn.unbind()
    with pytest.raises(ldap_exc.LDAPInvalidCredentialsResult):
        connect(slapd.url, data.ALICE_DN, "wrong-password")
    log = slapd.wait_for_log("RESULT tag=97 err=49")
    assert f'BIND dn="{data.ALICE_DN}" method=128' in log


def test_starttls_verifies_against_the_ca_and_not_the_wrong_ca(slapd):
    conn = connect(
        slapd.url,
        data.ALICE_DN,
        data.password_for("alice"),
        tls_config=tls(slapd.pki.ca_file),
        start_tls=True,
    )
    assert conn.tls_started
    assert whoami(conn) == f"dn:{data.ALICE_DN}"
    conn.unbind()
    with pytest.raises((ldap_exc.LDAPStartTLSError, ldap_exc.LDAPSocketOpenError)) as exc:
        connect(
            slapd.url,
            data.ALICE_DN,
            data.password_for("alice"),
            tls_config=tls(slapd.pki.wrong_ca_file),
            start_tls=True,
        )
    assert "CERTIFICATE_VERIFY_FAILED" in str(exc.value)
    # "localhost" is in the server certificate's SANs too
    conn = connect(
        f"ldaps://localhost:{slapd.ldaps_port}",
        data.ALICE_DN,
        data.password_for("alice"),
        tls_config=tls(slapd.pki.ca_file),
    )
    conn.unbind()


def test_ldaps_bind_and_wrong_ca(slapd):
    conn = connect(
        slapd.ldaps_url, data.ALICE_DN, data.password_for("alice"), tls_config=tls(slapd.pki.ca_file)
    )
    assert whoami(conn) == f"dn:{data.ALICE_DN}"
    conn.unbind()
    with pytest.raises(ldap_exc.LDAPSocketOpenError):
        connect(
            slapd.ldaps_url,
            data.ALICE_DN,
            data.password_for("alice"),
            tls_config=tls(slapd.pki.wrong_ca_file),
        )


def test_service_account_and_special_character_dns_bind(slapd):
    for dn, password in [
        (data.SERVICE_DN, data.SERVICE_PASSWORD),
        (data.JSMITH_DN, data.password_for("jsmith")),
        (data.HASH_DN, data.password_for("hash")),
        (data.MIXED_DN, data.password_for("MixedCase")),
    ]:
        conn = connect(slapd.url, dn, password)
        assert norm(whoami(conn)[3:]) == norm(dn)
        conn.unbind()
    conn = connect(slapd.url, data.SERVICE_DN, data.SERVICE_PASSWORD)
    conn.search(data.PEOPLE_DN, "(uid=hash)", SUBTREE, attributes=["cn"])
    assert norm(conn.entries[0].entry_dn) == norm(data.HASH_DN)
    assert conn.entries[0].cn.value == data.HASH_CN
    conn.search(data.PEOPLE_DN, "(uid=mixedcase)", SUBTREE, attributes=["uid"])
    assert conn.entries[0].uid.value == "MixedCase"


def test_unauthenticated_bind_only_when_allowed(slapd, anon_slapd):
    conn = connect(slapd.url)
    with pytest.raises(ldap_exc.LDAPUnwillingToPerformResult, match="unauthenticated bind"):
        raw_simple_bind(conn, data.ALICE_DN, "")
    conn.unbind()

    conn = connect(anon_slapd.url)
    result = raw_simple_bind(conn, data.ALICE_DN, "")
    assert result["result"] == 0, result
    assert whoami(conn) == ""  # bound as anonymous, not as alice
    conn.unbind()
    # bind_anon_cred: an empty DN with a password is anonymous there too
    conn = connect(anon_slapd.url)
    assert raw_simple_bind(conn, "", "some-password")["result"] == 0
    assert whoami(conn) == ""
    conn.unbind()
    conn = connect(slapd.url)
    with pytest.raises(ldap_exc.LDAPInvalidCredentialsResult):  # slapd's default
        raw_simple_bind(conn, "", "some-password")
    conn.unbind()
    # a wrong non-empty password is still rejected there
    with pytest.raises(ldap_exc.LDAPInvalidCredentialsResult):
        connect(anon_slapd.url, data.ALICE_DN, "wrong-password")


# --------------------------------------------------------------------------
# data: attributes, ACLs, memberOf
# --------------------------------------------------------------------------


def test_alice_attributes_and_acls(slapd):
    anon = connect(slapd.url)
    anon.search(data.PEOPLE_DN, "(uid=alice)", SUBTREE, attributes=[ALL_ATTRIBUTES, "entryUUID"])
    alice = anon.entries[0]
    assert alice.displayName.value == data.ALICE_DISPLAY_NAME
    assert alice.mail.value == "alice@example.test"
    assert alice.departmentNumber.value == data.ALICE_DEPARTMENT
    assert int(alice.registryQuotaMB.value) == data.ALICE_QUOTA_MB
    assert alice.entryUUID.value
    assert not alice.entry_raw_attributes.get("userPassword")
    svc = connect(slapd.url, data.SERVICE_DN, data.SERVICE_PASSWORD)
    svc.search(data.ALICE_DN, "(objectClass=*)", BASE, attributes=["userPassword", "mail"])
    assert not svc.entries[0].entry_raw_attributes.get("userPassword")
    assert svc.entries[0].mail.value == "alice@example.test"
    me = connect(slapd.url, data.ALICE_DN, data.password_for("alice"))
    me.search(data.ALICE_DN, "(objectClass=*)", BASE, attributes=["userPassword"])
    assert me.entries[0].userPassword.value.startswith(b"{SSHA}")


def test_locked_user_has_ppolicy_attribute_but_binds(slapd):
    conn = connect(slapd.url)
    conn.search(data.LOCKED_DN, "(objectClass=*)", BASE, attributes=["pwdAccountLockedTime"])
    raw = conn.entries[0].entry_raw_attributes["pwdAccountLockedTime"]
    assert raw == [data.LOCKED_TIME.encode()]
    connect(slapd.url, data.LOCKED_DN, data.password_for("locked")).unbind()


def test_member_of_values(slapd, dataset):
    conn = connect(slapd.url)
    assert norm_set(member_of(conn, data.ALICE_DN)) == norm_set([data.DEVELOPERS_DN])
    assert norm_set(member_of(conn, data.BOB_DN)) == norm_set([data.DEVELOPERS_DN])
    assert member_of(conn, data.FRANK_DN) == []
    assert norm_set(member_of(conn, data.DEVELOPERS_DN)) == norm_set([data.ENGINEERING_DN])
    assert norm_set(member_of(conn, data.ENGINEERING_DN)) == norm_set([data.STAFF_DN])
    assert norm_set(member_of(conn, data.CYCLE_A_DN)) == norm_set([data.CYCLE_B_DN])
    assert norm_set(member_of(conn, data.CYCLE_B_DN)) == norm_set([data.CYCLE_A_DN])
    assert norm_set(member_of(conn, data.JSMITH_DN)) == norm_set([data.SPECIAL_GROUP_DN])
    assert norm_set(dataset.transitive_groups(data.ALICE_DN)) == norm_set(
        [data.DEVELOPERS_DN, data.ENGINEERING_DN, data.STAFF_DN]
    )

    # every entry of the dataset carries exactly the precomputed memberOf
    conn.search(data.OPENLDAP_SUFFIX, "(objectClass=*)", SUBTREE, attributes=["memberOf"], paged_size=1000)
    served = {
        norm(e.entry_dn): norm_set(e.entry_attributes_as_dict.get("memberOf", [])) for e in conn.entries
    }
    cookie = conn.result.get("controls", {}).get("1.2.840.113556.1.4.319", {}).get("value", {}).get("cookie")
    while cookie:
        conn.search(
            data.OPENLDAP_SUFFIX,
            "(objectClass=*)",
            SUBTREE,
            attributes=["memberOf"],
            paged_size=1000,
            paged_cookie=cookie,
        )
        served.update(
            {norm(e.entry_dn): norm_set(e.entry_attributes_as_dict.get("memberOf", [])) for e in conn.entries}
        )
        cookie = conn.result["controls"]["1.2.840.113556.1.4.319"]["value"]["cookie"]
    expected = {norm(dn): norm_set(groups) for dn, groups in dataset.all_member_of().items()}
    assert served == expected


def test_precomputed_member_of_matches_the_overlay(anon_slapd):
    """Re-adding groups online (overlay active) reproduces byte-identical
    memberOf values, and deleting a group removes them (memberof refint)."""
    conn = connect(anon_slapd.url)
    # staff's member is a group (engineering): nested memberOf is covered
    watched = [data.JSMITH_DN, data.HASH_DN, data.ENGINEERING_DN]
    before = {dn: sorted(member_of(conn, dn)) for dn in watched}
    assert all(before.values())
    groups = [anon_slapd.dataset.entry(dn) for dn in (data.SPECIAL_GROUP_DN, data.STAFF_DN)]
    anon_slapd.modify_ldif("".join(f"dn: {g.dn}\nchangetype: delete\n\n" for g in groups))
    assert all(member_of(conn, dn) == [] for dn in watched)
    anon_slapd.add_ldif(
        "".join(
            data.Dataset(suffix="", service_dn="", service_password="", entries=groups).iter_ldif(
                with_member_of=False
            )
        )
    )
    after = {dn: sorted(member_of(conn, dn)) for dn in watched}
    assert after == before


def test_generated_users_and_deep_groups(slapd, dataset):
    conn = connect(slapd.url, data.SERVICE_DN, data.SERVICE_PASSWORD)
    conn.search(data.PEOPLE_DN, "(uid=user*)", SUBTREE, attributes=["1.1"])
    assert len(conn.entries) == EXTRA_USERS
    last = data.extra_user_dn(EXTRA_USERS)
    teams = [data.extra_team_dn(t) for t in data.extra_user_teams(EXTRA_USERS, EXTRA_USERS)]
    assert len(teams) == 2
    assert norm_set(member_of(conn, last)) == norm_set(teams)
    conn.search(data.GROUPS_DN, f"(memberUid={data.extra_user_uid(EXTRA_USERS)})", SUBTREE, attributes=["cn"])
    assert len(conn.entries) == 1
    connect(slapd.url, last, data.password_for(data.extra_user_uid(EXTRA_USERS))).unbind()

    # walk memberOf on the server: deep is in DEEP_GROUPS groups transitively
    seen, todo = set(), [data.DEEP_DN]
    while todo:
        for g in member_of(conn, todo.pop()):
            if norm(g) not in seen:
                seen.add(norm(g))
                todo.append(g)
    assert len(seen) == DEEP_GROUPS
    assert seen == norm_set(dataset.transitive_groups(data.DEEP_DN))
    assert len(member_of(conn, data.DEEP_DN)) == DEEP_GROUPS // 2
    connect(slapd.url, data.DEEP_DN, data.password_for("deep")).unbind()


def test_ad_shaped_dataset_and_restart_on_same_ports(ad_slapd):
    s = ad_slapd
    assert s.base_dn == data.AD_SUFFIX and s.service_dn == data.AD_SERVICE_DN
    svc = connect(s.url, data.AD_SERVICE_DN, data.AD_SERVICE_PASSWORD)
    svc.search(
        data.AD_USERS_DN,
        "(sAMAccountName=ANN)",
        SUBTREE,
        attributes=["userPrincipalName", "userAccountControl", "memberOf", "entryUUID"],
    )
    ann = svc.entries[0]
    assert norm(ann.entry_dn) == norm(data.AD_ANN_DN)
    assert ann.userPrincipalName.value == "ann@corp.example"
    assert int(ann.userAccountControl.value) == data.UAC_NORMAL
    assert norm_set(ann.memberOf.values) == norm_set([data.AD_PILOTS_DN])
    assert norm_set(member_of(svc, data.AD_PILOTS_DN)) == norm_set([data.AD_REGISTRY_USERS_DN])
    svc.search(data.AD_USERS_DN, "(lockoutTime>=1)", SUBTREE, attributes=["sAMAccountName"])
    assert [e.sAMAccountName.value for e in svc.entries] == ["lara"]
    svc.search(data.AD_USERS_DN, "(userAccountControl=514)", SUBTREE, attributes=["cn"])
    assert [norm(e.entry_dn) for e in svc.entries] == [norm(data.AD_DISABLED_DN)]
    svc.search(
        data.AD_USERS_DN,
        f"(accountExpires<={data.AD_EXPIRED_FILETIME})",
        SUBTREE,
        attributes=["accountExpires"],
    )
    assert sorted(norm(e.entry_dn) for e in svc.entries) == sorted(
        [norm(data.AD_EXPIRED_DN), norm(data.AD_NO_GROUP_DN)]
    )  # ed, and olga's 0
    svc.search(data.AD_NEVER_EXPIRES_DN, "(objectClass=*)", BASE, attributes=["accountExpires"])
    assert int(svc.entries[0].accountExpires.value) == data.AD_NEVER_EXPIRES
    svc.unbind()
    connect(s.url, data.AD_ANN_DN, data.password_for("ann")).unbind()

    s.add_ldif(
        f"dn: cn=New Person,{data.AD_USERS_DN}\nobjectClass: inetOrgPerson\n"
        "objectClass: adUser\ncn: New Person\nsn: Person\nsAMAccountName: newp\n"
        f"userPassword: {data.password_for('newp')}\n\n"
        f"dn: {data.AD_PILOTS_DN}\nchangetype: modify\nadd: member\n"
        f"member: cn=New Person,{data.AD_USERS_DN}\n\n"
    )
    ports, pid = (s.ldap_port, s.ldaps_port), s.pid
    t0 = time.monotonic()
    s.restart()
    assert time.monotonic() - t0 < 5
    assert (s.ldap_port, s.ldaps_port) == ports and s.pid != pid
    conn = connect(s.url, f"cn=New Person,{data.AD_USERS_DN}", data.password_for("newp"))
    assert norm_set(member_of(conn, f"cn=New Person,{data.AD_USERS_DN}")) == norm_set([data.AD_PILOTS_DN])
    connect(s.ldaps_url, data.AD_ANN_DN, data.password_for("ann"), tls_config=tls(s.pki.ca_file)).unbind()
    assert wait_for(lambda: s.log_text().count("slapd starting") == 2, timeout=30)


# --------------------------------------------------------------------------
# client certificates, blackhole
# --------------------------------------------------------------------------


def test_client_certificate_required_when_asked(mtls_slapd):
    s, pki = mtls_slapd, mtls_slapd.pki
    client = (pki.client_cert_file, pki.client_key_file)
    wrong_client = (pki.wrong_client_cert_file, pki.wrong_client_key_file)
    for url, start_tls in [(s.ldaps_url, False), (s.url, True)]:
        # With TLS 1.3 the client learns of the refusal on its first read
        # or write after the handshake, hence the range of errors.
        for cert in (None, wrong_client):
            with pytest.raises(TLS_REFUSED):
                connect(
                    url,
                    data.ALICE_DN,
                    data.password_for("alice"),
                    tls_config=tls(pki.ca_file, cert),
                    start_tls=start_tls,
                )
        conn = connect(
            url,
            data.ALICE_DN,
            data.password_for("alice"),
            tls_config=tls(pki.ca_file, client),
            start_tls=start_tls,
        )
        assert whoami(conn) == f"dn:{data.ALICE_DN}"
        conn.unbind()
    s.wait_for_log("Certificate is required")
    # plain LDAP without TLS is not affected by olcTLSVerifyClient
    connect(s.url, data.ALICE_DN, data.password_for("alice")).unbind()


def test_blackhole_accepts_tcp_but_never_answers():
    hole = BlackholeServer.start()
    try:
        assert hole.url == f"ldap://127.0.0.1:{hole.port}"
        with socket.create_connection(("127.0.0.1", hole.port), timeout=2) as sock:
            sock.settimeout(0.3)
            sock.sendall(b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00")
            with pytest.raises(socket.timeout):
                sock.recv(1)
        conn = Connection(
            Server(hole.url, connect_timeout=1), data.ALICE_DN, "pw", receive_timeout=1, raise_exceptions=True
        )
        t0 = time.monotonic()
        with pytest.raises((ldap_exc.LDAPSocketReceiveError, ldap_exc.LDAPResponseTimeoutError)):
            conn.bind()
        assert time.monotonic() - t0 < 5
        assert hole.connections_accepted >= 2
    finally:
        hole.close()
