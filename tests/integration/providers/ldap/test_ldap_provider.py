"""The LDAP provider against a real OpenLDAP: identities, groups, escaping, TLS, failover, time.

Each test builds a provider on the session's slapd (tests.support.ldapdata.openldap_dataset, which
permits unauthenticated binds) and checks what it returns, what it sent (slapd's log and the
provider's own step trace), and how long it took when servers misbehave.
"""

from __future__ import annotations

import dataclasses
import subprocess
import time
import uuid

import pytest

from gateway.login.usernames import UsernamePolicy
from providers.base import Identity, ProviderUnavailable, Rejection
from providers.ldap import GroupSettings, LdapProvider, LdapSettings, TlsSettings, UserSettings
from tests.support import ldapdata as data
from tests.support.fixtures import DEEP_GROUPS
from tests.support.ldapserver import BlackholeServer, SlapdServer

pytestmark = pytest.mark.integration

CANONICAL = UsernamePolicy().canonical
USER_FILTER = "(&(objectClass=inetOrgPerson)(uid={username}))"


def settings(server: SlapdServer | None, *, servers=None, user=None, groups=None, **changes) -> LdapSettings:
    base = LdapSettings(
        servers=tuple(servers or (server.url,)),
        user=UserSettings(
            base=data.PEOPLE_DN,
            filter=USER_FILTER,
            attributes={"department": "departmentNumber"},
            quota_attribute="registryQuotaMB",
        ),
        groups=GroupSettings(strategies=("member",), base=data.GROUPS_DN),
        bind_dn=data.SERVICE_DN,
        bind_password=data.SERVICE_PASSWORD,
        account_state="openldap",
        connect_timeout=1.0,
        operation_timeout=1,
        login_timeout=3.0,
    )
    return dataclasses.replace(
        base,
        **changes,
        user=dataclasses.replace(base.user, **(user or {})),
        groups=dataclasses.replace(base.groups, **(groups or {})),
    )


def provider(server: SlapdServer | None, **changes) -> LdapProvider:
    return LdapProvider("corp", settings(server, **changes), CANONICAL)


class Trace(list):
    def __call__(self, step: str, detail: str) -> None:
        self.append((step, detail))

    def details(self, step: str) -> list[str]:
        return [detail for s, detail in self if s == step]


def names(identity: Identity) -> set[str]:
    return {g for g in identity.groups if not g.startswith("cn=")}


# ---- who the user is ---------------------------------------------------------------------


def test_search_then_bind_gives_the_full_identity(slapd):
    identity = provider(slapd).check_password("alice", data.password_for("alice"))
    assert isinstance(identity, Identity)
    assert identity.provider == "corp" and identity.username == "alice"
    assert uuid.UUID(identity.subject)  # entryUUID: stable across renames
    assert identity.email == "alice@example.test"
    assert identity.display_name == data.ALICE_DISPLAY_NAME
    assert identity.attributes["department"] == data.ALICE_DEPARTMENT
    quota = identity.overrides["maxStorageMB"]
    assert quota == data.ALICE_QUOTA_MB and type(quota) is int
    # both the short name and the DN, so rules can match either
    assert {"developers", data.DEVELOPERS_DN, "staff", data.STAFF_DN} <= set(identity.groups)


def test_lookup_reads_the_identity_without_a_password(slapd):
    identity = provider(slapd).lookup("bob")
    assert isinstance(identity, Identity) and "auditors" in names(identity)
    assert provider(slapd).lookup("nobody") is Rejection.NO_SUCH_USER
    assert provider(slapd).lookup("locked") is Rejection.DISABLED


def test_directory_spelling_is_made_canonical(slapd):
    """uid MixedCase in the directory; the canonical (and only accepted) name is mixedcase."""
    identity = provider(slapd).check_password("mixedcase", data.password_for("MixedCase"))
    assert isinstance(identity, Identity) and identity.username == "mixedcase"


@pytest.mark.parametrize("uid", [data.JSMITH_UID, data.HASH_UID])
def test_users_with_special_characters_in_their_dn(slapd, uid):
    identity = provider(slapd).check_password(uid, data.password_for(uid))
    assert isinstance(identity, Identity) and identity.username == uid
    assert data.SPECIAL_GROUP_CN in identity.groups


# ---- groups ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "strategies, nested, user, expected",
    [
        (("member_of",), True, "alice", {"developers", "engineering", "staff"}),
        (("member",), True, "bob", {"developers", "auditors", "engineering", "staff"}),
        (("member_uid",), True, "dave", {"ops"}),
        (("member", "member_uid"), True, "alice", {"developers", "engineering", "staff", "ops"}),
        (("member_of", "member", "member_uid"), True, "alice", {"developers", "engineering", "staff", "ops"}),
        (("member",), False, "alice", {"developers"}),
        (("member_of",), False, "alice", {"developers"}),
        (("member_of",), True, "erin", {"cycle-a", "cycle-b"}),
        (("member",), True, "erin", {"cycle-a", "cycle-b"}),
        (("member",), True, "frank", set()),
        (("member",), True, "jsmith", {data.SPECIAL_GROUP_CN}),
    ],
)
def test_group_strategies_combine_and_nesting_ends_on_cycles(slapd, strategies, nested, user, expected):
    identity = provider(slapd, groups={"strategies": strategies, "nested": nested}).check_password(
        user, data.password_for(user)
    )
    assert names(identity) == expected


def test_the_trace_shows_each_group_and_its_nesting_path(slapd):
    trace = Trace()
    provider(slapd, groups={"strategies": ("member_of", "member_uid")}).check_password(
        "alice", data.password_for("alice"), note=trace
    )
    groups = trace.details("group")
    assert any(line.startswith("developers (") and "[member_of]" in line for line in groups)
    assert any(line.startswith("ops (") and "[member_uid]" in line for line in groups)
    assert any(
        line.startswith("staff (") and f"nested, depth 2 via {data.ENGINEERING_DN}" in line for line in groups
    )


def test_hundreds_of_nested_groups_cost_a_search_per_level(slapd):
    deep = provider(slapd, groups={"strategies": ("member_of",)})
    marker = f"deep-count-{time.monotonic_ns()}"
    deep.check_password(marker, "some-password-1")  # a search miss, as a mark in slapd's log
    slapd.wait_for_log(marker)
    identity = deep.check_password(data.DEEP_UID, data.password_for(data.DEEP_UID))
    assert len(names(identity)) == DEEP_GROUPS
    deep.check_password(f"{marker}-end", "some-password-1")
    slapd.wait_for_log(f"{marker}-end")
    during = slapd.log_text().split(marker, 1)[1].split(f"{marker}-end", 1)[0]
    group_searches = during.count(f'base="{data.GROUPS_DN}"')
    # levels x batches of 50, not one search per group
    assert 0 < group_searches <= 3 * (1 + DEEP_GROUPS // 50), group_searches


# ---- what reaches the directory ----------------------------------------------------------


def _unauthenticated_bind_is_accepted(server: SlapdServer, dn: str) -> bool:
    """The control: OpenLDAP's own client, a DN and an empty password."""
    result = subprocess.run(
        ["ldapwhoami", "-x", "-H", server.url, "-D", dn, "-w", ""], capture_output=True, text=True, timeout=10
    )
    return result.returncode == 0


@pytest.mark.parametrize("password", ["", " ", "\t", "  \n "])
def test_empty_passwords_never_reach_the_directory(slapd, password):
    assert _unauthenticated_bind_is_accepted(slapd, data.ALICE_DN), "control: this directory would say yes"
    directory = provider(slapd)
    marker = f"empty-password-{time.monotonic_ns()}"
    directory.check_password(marker, "x")
    slapd.wait_for_log(marker)
    assert directory.check_password("alice", password) is Rejection.WRONG_CREDENTIALS
    assert directory.check_password("alice", data.password_for("alice")) is not None  # flush the log
    slapd.wait_for_log(f'BIND dn="{data.ALICE_DN}"', after=marker)  # earlier tests' binds are older
    after = slapd.log_text().split(marker, 1)[1]
    assert after.count(f'BIND dn="{data.ALICE_DN}" method=128') == 1  # only the real-password bind


INJECTION_USERNAMES = [
    "*",
    "a*",
    "*)(uid=*",
    "x)(objectClass=*",
    "a,ou=admins",
    "nul\x00byte",
    "#lead",
    "alice)(|(uid=*",
    "\\2a",
    "admin*)((|userPassword=*)",
]


@pytest.mark.parametrize("typed", INJECTION_USERNAMES)
def test_injection_like_usernames_find_nobody_and_are_escaped_once(slapd, typed):
    trace = Trace()
    assert provider(slapd).check_password(typed, "some-password-1", note=trace) is Rejection.NO_SUCH_USER
    sent = trace.details("search")[0]
    value = sent.split("(uid=", 1)[1].rsplit("))", 1)[0]
    assert not set("*()\x00") & set(
        value.replace("\\2a", "")
        .replace("\\28", "")
        .replace("\\29", "")
        .replace("\\00", "")
        .replace("\\5c", "")
    )


@pytest.mark.parametrize(
    "password", ["*", "a*", "*)(uid=*", "x)(objectClass=*", "a,ou=admins", "nul\x00byte", "#lead"]
)
def test_injection_like_passwords_are_just_wrong(slapd, password):
    assert provider(slapd).check_password("alice", password) is Rejection.WRONG_CREDENTIALS


@pytest.mark.parametrize(
    "typed, bind_dn",
    [
        ("a,ou=admins", r"uid=a\,ou\=admins"),
        ("#lead", r"uid=\#lead"),
        ("*", "uid=*"),
        ("alice,ou=people", r"uid=alice\,ou\=people"),
        ('q"+<>;', r"uid=q\"\+\<\>\;"),
    ],
)
def test_direct_bind_escapes_the_dn_template(slapd, typed, bind_dn):
    direct = provider(slapd, user={"dn_template": f"uid={{username}},{data.PEOPLE_DN}"})
    trace = Trace()
    assert direct.check_password(typed, "some-password-1", note=trace) is Rejection.NO_SUCH_USER
    assert trace.details("bind")[0].startswith(f"dn={bind_dn},{data.PEOPLE_DN} on ")


@pytest.mark.parametrize("service_account", [True, False])
def test_direct_bind_with_and_without_a_service_account(slapd, service_account):
    changes = {} if service_account else {"bind_dn": None, "bind_password": None}
    direct = provider(slapd, user={"dn_template": f"uid={{username}},{data.PEOPLE_DN}"}, **changes)
    identity = direct.check_password("alice", data.password_for("alice"))
    assert isinstance(identity, Identity) and "staff" in names(identity)
    assert direct.check_password("alice", "wrong-password-1") is Rejection.NO_SUCH_USER


def test_anonymous_search_then_bind(slapd):
    anonymous = provider(slapd, bind_dn=None, bind_password=None)
    assert isinstance(anonymous.check_password("bob", data.password_for("bob")), Identity)


def test_more_than_one_matching_entry_is_refused(slapd):
    ambiguous = provider(slapd, user={"filter": "(|(uid={username})(uid=bob))"})
    trace = Trace()
    assert (
        ambiguous.check_password("alice", data.password_for("alice"), note=trace)
        is Rejection.WRONG_CREDENTIALS
    )
    assert "more than one entry matches" in trace.details("search")[-1] and not trace.details("bind")


def test_group_searches_follow_paged_results(slapd):
    paged = provider(slapd, groups={"strategies": ("member",), "page_size": 10, "nested": False})
    identity = paged.check_password(data.DEEP_UID, data.password_for(data.DEEP_UID))
    assert len(names(identity)) == DEEP_GROUPS // 2  # the direct groups, 10 per page


def test_wrong_password_unknown_user_and_locked_account(slapd):
    directory = provider(slapd)
    assert directory.check_password("alice", "wrong-password-1") is Rejection.WRONG_CREDENTIALS
    assert directory.check_password("nobody", "wrong-password-1") is Rejection.NO_SUCH_USER
    # locked only shows once the password is proven right
    assert directory.check_password("locked", "wrong-password-1") is Rejection.WRONG_CREDENTIALS
    assert directory.check_password("locked", data.password_for("locked")) is Rejection.DISABLED


def test_a_lock_cleared_by_the_directory_on_bind_is_not_held_against_the_user(tmp_path):
    """ppolicy and AD clear a lock that ran out at the next successful bind; the lock read
    before the bind is stale then. Simulated: the lock disappears between search and bind."""
    server = SlapdServer.start(tmp_path, dataset=data.openldap_dataset())
    try:
        directory = provider(server)
        original = directory._bind

        def bind_and_clear(dn, password, login, note, then=None):
            server.modify_ldif(f"dn: {dn}\nchangetype: modify\ndelete: pwdAccountLockedTime\n")
            return original(dn, password, login, note, then)

        directory._bind = bind_and_clear
        assert isinstance(directory.check_password("locked", data.password_for("locked")), Identity)
    finally:
        server.stop()


def test_unknown_users_cost_a_bind_like_wrong_passwords(slapd):
    directory = provider(slapd)
    marker = f"timing-{time.monotonic_ns()}"
    directory.check_password(marker, "some-password-1")
    slapd.wait_for_log("gateway-no-such-user", after=marker)  # earlier tests' binds are older
    after = slapd.log_text().split(marker, 1)[1]
    assert 'BIND dn="cn=gateway-no-such-user-' in after


def test_wrong_service_password_is_unavailable_not_wrong(slapd):
    broken = provider(slapd, bind_password="not-the-service-password")
    with pytest.raises(ProviderUnavailable, match="service account bind refused"):
        broken.check_password("alice", data.password_for("alice"))


# ---- TLS ---------------------------------------------------------------------------------


def _tls(server, **changes):
    return TlsSettings(ca_file=server.pki.ca_file, **changes)


def test_ldaps_with_the_right_ca(slapd):
    secure = provider(slapd, servers=[slapd.ldaps_url], tls=_tls(slapd))
    assert isinstance(secure.check_password("alice", data.password_for("alice")), Identity)


def test_start_tls_with_the_right_ca(slapd):
    secure = provider(slapd, start_tls=True, tls=_tls(slapd))
    trace = Trace()
    assert isinstance(secure.check_password("alice", data.password_for("alice"), note=trace), Identity)


@pytest.mark.parametrize("mode", ["ldaps", "start_tls"])
def test_a_wrong_ca_is_refused(slapd, mode):
    changes = {"servers": [slapd.ldaps_url]} if mode == "ldaps" else {"start_tls": True}
    untrusted = provider(slapd, tls=TlsSettings(ca_file=slapd.pki.wrong_ca_file), **changes)
    with pytest.raises(ProviderUnavailable):
        untrusted.check_password("alice", data.password_for("alice"))


def test_host_names_are_verified_unless_turned_off(slapd):
    # 127.1 reaches 127.0.0.1 but is not a name on the certificate (IP 127.0.0.1, localhost).
    other_name = f"ldaps://127.1:{slapd.ldaps_port}"
    with pytest.raises(ProviderUnavailable):
        provider(slapd, servers=[other_name], tls=_tls(slapd)).check_password(
            "alice", data.password_for("alice")
        )
    lax = provider(slapd, servers=[other_name], tls=_tls(slapd, verify_hostname=False))
    assert isinstance(lax.check_password("alice", data.password_for("alice")), Identity)
    by_name = provider(slapd, servers=[f"ldaps://localhost:{slapd.ldaps_port}"], tls=_tls(slapd))
    assert isinstance(by_name.check_password("alice", data.password_for("alice")), Identity)


def test_client_certificates(tmp_path):
    server = SlapdServer.start(tmp_path, dataset=data.openldap_dataset(), require_client_cert=True)
    try:
        without = provider(server, servers=[server.ldaps_url], tls=_tls(server))
        with pytest.raises(ProviderUnavailable):
            without.check_password("alice", data.password_for("alice"))
        pki = server.pki
        with_cert = provider(
            server,
            servers=[server.ldaps_url],
            tls=_tls(server, client_cert_file=pki.client_cert_file, client_key_file=pki.client_key_file),
        )
        assert isinstance(with_cert.check_password("alice", data.password_for("alice")), Identity)
    finally:
        server.stop()


# ---- failover and time budget ------------------------------------------------------------


@pytest.fixture
def two_servers(tmp_path):
    primary = SlapdServer.start(tmp_path / "primary", dataset=data.openldap_dataset())
    replica = SlapdServer.start(tmp_path / "replica", dataset=data.openldap_dataset())
    yield primary, replica
    primary.stop()
    replica.stop()


def test_failover_skips_a_stopped_server_and_returns_to_it(two_servers):
    primary, replica = two_servers
    directory = provider(None, servers=[primary.url, replica.url], retry_dead_after=1.0)
    trace = Trace()
    assert isinstance(directory.check_password("alice", data.password_for("alice"), note=trace), Identity)
    assert primary.url in trace.details("bind")[0]
    primary.stop()
    for _ in range(3):  # pooled connections to the primary fail; each login still succeeds
        trace = Trace()
        started = time.monotonic()
        assert isinstance(directory.check_password("alice", data.password_for("alice"), note=trace), Identity)
        assert replica.url in trace.details("bind")[0]
        assert time.monotonic() - started < 1.5
    primary.restart()
    time.sleep(1.2)  # past retry_dead_after: the primary is tried again
    trace = Trace()
    assert isinstance(directory.check_password("alice", data.password_for("alice"), note=trace), Identity)
    assert primary.url in trace.details("bind")[0]


def test_pooled_connections_survive_a_directory_restart(two_servers):
    primary, _ = two_servers
    directory = provider(primary)
    assert isinstance(directory.check_password("alice", data.password_for("alice")), Identity)
    primary.restart()
    assert isinstance(directory.check_password("alice", data.password_for("alice")), Identity)


def test_all_servers_down_is_unavailable_quickly(two_servers):
    primary, replica = two_servers
    directory = provider(None, servers=[primary.url, replica.url])
    primary.stop()
    replica.stop()
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable):
        directory.check_password("alice", data.password_for("alice"))
    assert time.monotonic() - started < 1.0


def test_a_blackholed_server_costs_a_bounded_time():
    with BlackholeServer.start() as blackhole:
        directory = provider(None, servers=[blackhole.url])
        budget = directory.settings.time_budget
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable):
            directory.check_password("alice", data.password_for("alice"))
        elapsed = time.monotonic() - started
        assert directory.settings.operation_timeout * 0.9 <= elapsed <= budget + 0.5, (elapsed, budget)


def test_a_blackholed_server_is_skipped_after_one_timeout(slapd):
    with BlackholeServer.start() as blackhole:
        directory = provider(None, servers=[blackhole.url, slapd.url], retry_dead_after=60)
        started = time.monotonic()
        assert isinstance(directory.check_password("alice", data.password_for("alice")), Identity)
        first = time.monotonic() - started
        started = time.monotonic()
        assert isinstance(directory.check_password("bob", data.password_for("bob")), Identity)
        second = time.monotonic() - started
        # The first login waited for the blackhole's timeout (1 s); the second did not (bounded
        # by that timeout, not by a guess at a login's speed on a loaded machine).
        assert first >= 0.9 and second < 0.9, (first, second)


# ---- Active Directory shapes on slapd ----------------------------------------------------


def ad_shaped(server: SlapdServer, **changes) -> LdapProvider:
    """The active_directory preset on slapd data shaped like AD. slapd knows neither
    objectCategory nor the in-chain rule, so the filter and group strategy differ here;
    the real thing is tested against Samba AD (test_ldap_samba_ad.py)."""
    options = {
        "servers": [server.url],
        "preset": "active_directory",
        "bind": {"dn": data.AD_SERVICE_DN, "password": data.AD_SERVICE_PASSWORD},
        "user": {
            "base": data.AD_USERS_DN,
            "filter": "(&(objectClass=adUser)(sAMAccountName={username}))",
            "id_attribute": "entryUUID",
        },
        "groups": {
            "base": data.AD_GROUPS_DN,
            "strategies": ["member_of"],
            "member_filter": "(&(objectClass=groupOfNames)(member={dn}))",
        },
        **changes,
    }
    from gateway.config.file import parse_config
    from providers.ldap.config import ldap_settings

    config = parse_config({"providers": [{"id": "ad", "type": "ldap", **options}]}, "test")
    return LdapProvider("ad", ldap_settings(dict(config.providers[0].options)), CANONICAL)


def test_ad_shaped_users_groups_and_account_state(ad_shaped_slapd):
    directory = ad_shaped(ad_shaped_slapd)
    ann = directory.check_password("ann", data.password_for("ann"))
    assert isinstance(ann, Identity) and ann.username == "ann"
    assert names(ann) == {"Pilots", "Registry Users"}
    assert isinstance(directory.check_password("nick", data.password_for("nick")), Identity)
    for refused in ("dan", "lara", "ed"):  # disabled, locked, expired
        assert directory.check_password(refused, data.password_for(refused)) is Rejection.DISABLED, refused
        assert directory.check_password(refused, "wrong-password-1") is Rejection.WRONG_CREDENTIALS
    # the other AD input forms are not this username
    assert directory.check_password(data.ad_upn("ann"), data.password_for("ann")) is Rejection.NO_SUCH_USER


# ---- review findings: identity, pools, circuit breaker, refusals -------------------------


def test_direct_bind_returns_the_entry_that_was_bound_never_one_found_by_filter(slapd):
    """The user filter could match someone else (here: always bob); the identity must be
    the entry whose password was checked."""
    direct = provider(
        slapd, user={"dn_template": f"uid={{username}},{data.PEOPLE_DN}", "filter": "(uid=bob)"}
    )
    identity = direct.check_password("alice", data.password_for("alice"))
    assert isinstance(identity, Identity) and identity.username == "alice"
    assert identity.email == "alice@example.test" and "auditors" not in names(identity)


def test_a_multi_valued_username_attribute_uses_the_typed_value(slapd):
    dn = f"uid=jdoe,{data.PEOPLE_DN}"
    if "jdoe" not in slapd.log_text():
        slapd.add_ldif(
            f"dn: {dn}\nobjectClass: inetOrgPerson\nuid: jdoe\nuid: john.doe\ncn: John Doe\n"
            f"sn: Doe\nuserPassword: {data.password_for('jdoe')}\n\n"
        )
    directory = provider(slapd)
    for typed in ("jdoe", "john.doe"):
        identity = directory.check_password(typed, data.password_for("jdoe"))
        assert isinstance(identity, Identity) and identity.username == typed


def test_stale_pooled_connections_are_all_dropped_after_a_restart(two_servers):
    """Fill both pools with several connections, restart the directory: no login may fail."""
    from concurrent.futures import ThreadPoolExecutor

    primary, _ = two_servers
    directory = provider(primary)
    users = ["alice", "bob", "carol", "dave", "erin", "frank"]
    with ThreadPoolExecutor(6) as pool:
        assert all(
            isinstance(r, Identity)
            for r in pool.map(lambda u: directory.check_password(u, data.password_for(u)), users * 3)
        )
    primary.restart()
    for user in users:  # one after the other: each would meet a stale pooled connection
        assert isinstance(directory.check_password(user, data.password_for(user)), Identity), user


def test_a_dead_directory_fails_fast_until_it_is_due_for_a_retry(two_servers):
    primary, _ = two_servers
    with BlackholeServer.start() as blackhole:
        directory = provider(None, servers=[blackhole.url], retry_dead_after=1.5)
        with pytest.raises(ProviderUnavailable):
            directory.check_password("alice", data.password_for("alice"))  # costs one timeout
        took = []
        for _ in range(5):
            started = time.monotonic()
            with pytest.raises(ProviderUnavailable, match="failed recently"):
                directory.check_password("alice", data.password_for("alice"))
            took.append(time.monotonic() - started)
        # The circuit is open: no call waits for the timeout (each timed on its own against it).
        assert max(took) < 0.9, took
        time.sleep(1.6)
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable):
            directory.check_password("alice", data.password_for("alice"))  # one probe again
        assert time.monotonic() - started >= 0.9


def test_a_refusing_directory_is_unavailable_and_not_marked_dead(slapd):
    """A size limit the server enforces is an answer, not a dead server: 503 for this login,
    and the next login (another user) is served by the same server."""
    limited = provider(
        slapd,
        groups={
            "strategies": ("member",),
            "member_filter": "(|(member={dn})(cn=*))",
            "nested": False,
            "page_size": 10,
        },
    )
    limited.settings  # noqa: B018 - the filter matches every group; paging keeps it legal
    identity = limited.check_password("alice", data.password_for("alice"))
    assert isinstance(identity, Identity)
    refusing = provider(slapd, user={"base": "ou=nowhere,dc=example,dc=test"})
    with pytest.raises(ProviderUnavailable, match="refused: result 32"):
        refusing.check_password("alice", data.password_for("alice"))
    assert refusing._servers._servers[0].dead_until == 0.0


def test_a_bind_the_directory_refuses_for_everyone_is_a_503_not_a_wrong_password(tmp_path):
    """slapd told to accept simple binds only over TLS answers confidentialityRequired (13):
    that is the directory's set-up, not the user's password."""
    server = SlapdServer.start(tmp_path, dataset=data.openldap_dataset())
    try:
        subprocess.run(
            ["ldapmodify", "-x", "-H", server.url, "-D", "cn=admin,cn=config", "-w", server.root_password],
            input="dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\n"
            "replace: olcSecurity\nolcSecurity: simple_bind=128\n",
            text=True,
            check=True,
            capture_output=True,
            timeout=10,
        )
        anonymous = provider(server, bind_dn=None, bind_password=None)
        with pytest.raises(ProviderUnavailable, match="result 13"):
            anonymous.check_password("alice", data.password_for("alice"))
        assert anonymous._servers._servers[0].dead_until == 0.0
        over_tls = provider(server, bind_dn=None, bind_password=None, start_tls=True, tls=_tls(server))
        assert isinstance(over_tls.check_password("alice", data.password_for("alice")), Identity)
    finally:
        server.stop()
