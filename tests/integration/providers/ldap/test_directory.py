"""Reading a whole directory (providers.ldap.directory) against real slapd: every user comes out
as the provider's own per-user lookup sees it, in a number of searches set by the pages, and a
read that fails anywhere fails as a whole.
"""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from gateway.login.usernames import UsernamePolicy
from providers.base import Identity, Rejection
from providers.ldap import GroupSettings, LdapProvider, LdapSettings, UserSettings
from providers.ldap.directory import DirectoryReadFailed, DirectoryUser
from providers.ldap.filtertemplates import UnsupportedTemplate
from tests.support import ldapdata as data
from tests.support.ldapserver import BlackholeServer, SlapdServer
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

CANONICAL = UsernamePolicy().canonical


def openldap(server: SlapdServer, *, user=None, groups=None, **changes) -> LdapProvider:
    settings = LdapSettings(
        servers=(server.url,),
        user=UserSettings(
            base=data.PEOPLE_DN,
            filter="(&(objectClass=inetOrgPerson)(uid={username}))",
            attributes={"department": "departmentNumber"},
            quota_attribute="registryQuotaMB",
        ),
        groups=GroupSettings(strategies=("member",), base=data.GROUPS_DN),
        bind_dn=data.SERVICE_DN,
        bind_password=data.SERVICE_PASSWORD,
        account_state="openldap",
        login_timeout=10.0,
    )
    settings = dataclasses.replace(
        settings,
        **changes,
        user=dataclasses.replace(settings.user, **(user or {})),
        groups=dataclasses.replace(settings.groups, **(groups or {})),
    )
    return LdapProvider("corp", settings, CANONICAL)


def ad_shaped(server: SlapdServer, **groups) -> LdapProvider:
    """The active_directory preset's user side on AD-shaped slapd data (slapd has neither
    objectCategory nor the in-chain rule, hence the filter and strategies)."""
    settings = LdapSettings(
        servers=(server.url,),
        user=UserSettings(
            base=data.AD_USERS_DN,
            filter="(&(objectClass=adUser)(sAMAccountName={username}))",
            username_attribute="sAMAccountName",
            id_attribute="entryUUID",
        ),
        groups=GroupSettings(
            base=data.AD_GROUPS_DN,
            member_filter="(&(objectClass=groupOfNames)(member={dn}))",
            **{"strategies": ("member_of",), **groups},
        ),
        bind_dn=data.AD_SERVICE_DN,
        bind_password=data.AD_SERVICE_PASSWORD,
        account_state="active_directory",
        login_timeout=10.0,
    )
    return LdapProvider("ad", settings, CANONICAL)


def read_all(directory: LdapProvider, **options) -> tuple[list[DirectoryUser], object]:
    reader = directory.directory_reader(**options)
    return list(reader.users()), reader.counters


def assert_same_as_lookups(directory: LdapProvider, users: list[DirectoryUser]) -> None:
    """Each user read equals what the provider's own lookup gives for that username; a refused
    account's identity equals the lookup of a provider that does not check account state."""
    unchecked = LdapProvider(
        directory.id, dataclasses.replace(directory.settings, account_state="none"), CANONICAL
    )
    for user in users:
        assert user.problem is None and user.identity is not None, user
        looked_up = directory.lookup(user.username)
        if user.disabled:
            assert looked_up is Rejection.DISABLED, user.username
            looked_up = unchecked.lookup(user.username)
        else:
            assert isinstance(looked_up, Identity), (user.username, looked_up)
        assert isinstance(looked_up, Identity)
        assert set(user.identity.groups) == set(looked_up.groups), user.username
        assert dataclasses.replace(user.identity, groups=()) == dataclasses.replace(looked_up, groups=())


# The people of the session's slapd, canonical (MixedCase is mixedcase), deep included.
OPENLDAP_USERS = {uid.lower() for uid in data.USER_DNS} | {data.DEEP_UID}


@pytest.mark.parametrize(
    "groups",
    [
        {"strategies": ("member",)},
        {"strategies": ("member_of",)},
        {"strategies": ("member_uid",)},
        {"strategies": ("member", "member_uid")},
        {"strategies": ("member_of", "member", "member_uid")},
        {"strategies": ("member",), "nested": False},
        {"strategies": ("member_of",), "max_depth": 1},
        {"strategies": ("member",), "member_filter": "(member={dn})"},
    ],
    ids=lambda groups: ",".join(f"{k}={v}" for k, v in groups.items()),
)
def test_every_user_is_what_a_lookup_gives(slapd, groups):
    directory = openldap(slapd, groups=groups)
    users, counters = read_all(directory)
    assert {user.username for user in users} == OPENLDAP_USERS
    assert {user.username for user in users if user.disabled} == {"locked"}
    assert_same_as_lookups(directory, users)
    assert counters.users == len(users)
    assert counters.searches == counters.group_pages + counters.user_pages + counters.name_reads


def test_ad_shaped_users_with_account_state_are_what_a_lookup_gives(ad_shaped_slapd):
    for groups in ({}, {"strategies": ("member",)}, {"nested": False}):
        directory = ad_shaped(ad_shaped_slapd, **groups)
        users, _ = read_all(directory)
        assert {user.username: user.disabled for user in users} == {
            "svc-gateway": None,
            "ann": None,
            "nick": None,
            "olga": None,
            "dan": "account disabled",
            "lara": "account locked",
            "ed": "account expired",
        }
        assert_same_as_lookups(directory, users)


def test_searches_grow_with_pages_not_users(slapd):
    directory = openldap(slapd, groups={"strategies": ("member", "member_uid")})
    whole, whole_counters = read_all(directory)
    paged, counters = read_all(directory, page_size=3)
    assert [(u.dn, u.identity) for u in paged] == [(u.dn, u.identity) for u in whole]
    user_pages = -(-len(whole) // 3)
    assert counters.user_pages in (user_pages, user_pages + 1)  # the server may end on an empty page
    assert whole_counters.user_pages == 1
    assert whole_counters.group_pages == 2  # one search per strategy, each a single page
    assert whole_counters.searches == 3 and whole_counters.name_reads == 0


def test_direct_bind_configuration_reads_the_entries_a_login_would_bind(slapd):
    directory = openldap(slapd, user={"dn_template": f"uid={{username}},{data.PEOPLE_DN}"})
    users, _ = read_all(directory)
    # jsmith and hash have cn= RDNs: a login as them builds uid=jsmith,... which is not their entry
    assert {u.username for u in users} == OPENLDAP_USERS - {data.JSMITH_UID, data.HASH_UID}


def test_a_missing_user_base_fails_the_read_instead_of_finding_nobody(slapd):
    directory = openldap(slapd, user={"base": f"ou=nobody,{data.OPENLDAP_SUFFIX}"})
    with pytest.raises(DirectoryReadFailed, match="refused"):
        read_all(directory)


def test_an_unreachable_or_silent_directory_fails_before_any_user():
    def directory(port: int) -> LdapProvider:
        settings = LdapSettings(
            servers=(f"ldap://127.0.0.1:{port}",),
            user=UserSettings(base=data.PEOPLE_DN),
            bind_dn=data.SERVICE_DN,
            bind_password=data.SERVICE_PASSWORD,
            connect_timeout=0.5,
            operation_timeout=1,
        )
        return LdapProvider("corp", settings, CANONICAL)

    with BlackholeServer.start() as hole:  # accepts, never answers
        users = directory(hole.port).directory_reader().users()
        with pytest.raises(DirectoryReadFailed, match="not started"):
            next(users)
    nobody = free_port()  # nothing listens
    with pytest.raises(DirectoryReadFailed, match="not started: no directory server reachable"):
        next(directory(nobody).directory_reader().users())


def test_a_filter_that_cannot_be_read_in_bulk_is_refused_up_front(slapd):
    with pytest.raises(UnsupportedTemplate):
        openldap(slapd, groups={"member_filter": "(|(member={dn})(cn=everyone))"}).directory_reader()


@pytest.fixture
def small_slapd(tmp_path):
    server = SlapdServer.start(tmp_path, dataset=data.openldap_dataset(extra_users=40))
    yield server
    server.stop()


def test_a_directory_lost_in_the_middle_fails_the_whole_read(small_slapd):
    reader = openldap(small_slapd, operation_timeout=1, connect_timeout=0.5).directory_reader(page_size=5)
    users = reader.users()
    first = list(itertools.islice(users, 3))
    assert len(first) == 3
    small_slapd.stop()
    with pytest.raises(DirectoryReadFailed, match="aborted"):
        list(users)


def test_a_read_that_runs_out_of_time_fails_the_whole_read(slapd):
    directory = openldap(slapd)
    ticks = itertools.count()
    reader = directory.directory_reader(page_size=2, timeout=5.0)
    reader._clock = lambda: float(next(ticks))  # one second per clock reading
    with pytest.raises(DirectoryReadFailed, match="not finished within 5 s"):
        list(reader.users())


def test_a_server_size_limit_fails_the_read_instead_of_truncating_it(tmp_path):
    """slapd's olcSizeLimit (500 by default) caps paged searches too: a directory bigger than
    the limit must not look like one whose other users all left."""
    server = SlapdServer.start(tmp_path, dataset=data.openldap_dataset(extra_users=40), size_limit=5)
    try:
        for page_size in (3, 500):
            with pytest.raises(DirectoryReadFailed, match="sizeLimitExceeded"):
                read_all(openldap(server), page_size=page_size)
    finally:
        server.stop()


def test_real_active_directory_users_are_what_a_lookup_gives(samba_ad):
    """Samba AD with the active_directory preset: the real in-chain rule (AD's own transitive
    answer) and userAccountControl against the group graph read in pages."""
    from tests.integration.providers.ldap.test_ldap_samba_ad import active_directory

    directory = active_directory(samba_ad)
    users, counters = read_all(directory, page_size=50)
    by_name = {user.username: user for user in users}
    assert {"ann", "bob", "disabled", "expired"} <= set(by_name)
    assert by_name["disabled"].disabled == "account disabled"
    assert by_name["expired"].disabled == "account expired"
    assert {"Pilots", "Registry Users"} <= set(by_name["ann"].groups)
    assert_same_as_lookups(directory, users)
    assert counters.searches == counters.group_pages + counters.user_pages + counters.name_reads
