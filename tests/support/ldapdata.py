"""Directory contents for the slapd test fixture (:mod:`tests.support.ldapserver`).

A :class:`Dataset` is a suffix plus an ordered list of entries (parents before
children) that renders to the LDIF ``slapadd`` loads.  ``memberOf`` is never
stored in a dataset: :meth:`Dataset.to_ldif` computes it the way slapd's
memberof overlay would have maintained it (slapadd bypasses overlays), i.e.
every entry -- user *or group* -- named in the ``member`` attribute of a
``groupOfNames`` gets that group's DN in ``memberOf``.  Direct membership
only; ``groupOfUniqueNames`` and ``posixGroup`` do not count.

Factories:

* :func:`openldap_dataset` -- ``dc=example,dc=test``: people, nested and
  cyclic groups, special-character DNs, optionally many generated users.
* :func:`ad_shaped_dataset` -- ``dc=corp,dc=example``: Active-Directory shape
  (``cn=Users``, ``sAMAccountName``, ``userAccountControl``, ...).

Every user's password is :func:`password_for(uid) <password_for>`
(``<uid>-Pass-word-1``; for the AD dataset the uid is the sAMAccountName),
stored as ``{SSHA}``.  The constants below name every fixed entry so tests
need not spell DNs.

Plain Python, no pytest import.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

__all__ = [
    "Entry",
    "Dataset",
    "password_for",
    "ssha",
    "escape_rdn_value",
    "openldap_dataset",
    "ad_shaped_dataset",
]

# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def password_for(uid: str) -> str:
    """The cleartext password of user ``uid`` (AD dataset: sAMAccountName)."""
    return f"{uid}-Pass-word-1"


def ssha(password: str, salt: bytes | None = None) -> str:
    """A slappasswd-compatible ``{SSHA}`` hash (SHA-1 over password+salt,
    base64 of digest+salt).  The default salt is derived from the password so
    datasets are reproducible; pass ``salt`` for a random one."""
    pw = password.encode("utf-8")
    if salt is None:
        salt = hashlib.sha1(b"gateway-test-salt:" + pw).digest()[:8]
    digest = hashlib.sha1(pw + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode("ascii")


_RDN_SPECIAL = re.compile(r'([,+"\\<>;=])')


def escape_rdn_value(value: str) -> str:
    """RFC 4514 escaping of an attribute value for use in a DN."""
    out = _RDN_SPECIAL.sub(r"\\\1", value)
    if out.startswith((" ", "#")):
        out = "\\" + out
    if out.endswith(" ") and not out.endswith("\\ "):
        out = out[:-1] + "\\ "
    return out


def _split_first_rdn(dn: str) -> tuple[str, str]:
    """(first RDN, parent DN) of an RFC 4514 string DN."""
    i = 0
    while i < len(dn):
        c = dn[i]
        if c == "\\":
            i += 2
            continue
        if c == ",":
            return dn[:i], dn[i + 1 :]
        i += 1
    return dn, ""


def parent_dn(dn: str) -> str:
    return _split_first_rdn(dn)[1]


def _norm(dn: str) -> str:
    """A cheap DN key: case-insensitive, blanks around separators ignored.
    Datasets spell each DN one way, so this is enough to match ``member``
    values with entry DNs."""
    if " " not in dn and "\t" not in dn:
        return dn.lower()
    return _NORM_BLANKS.sub(r"\1", dn.strip()).lower()


_NORM_BLANKS = re.compile(r"\s*(?<!\\)([,=+])\s*")


# LDIF (RFC 2849): a value may be written plainly unless it starts with
# space, ':' or '<', ends with a space, or has a non-ASCII/NUL/CR/LF char.
_LDIF_UNSAFE = re.compile(r"(^[ :<])|[\x00\r\n\x80-\U0010ffff]|( $)")


def _ldif_line(attr: str, value: str) -> str:
    if value and value.isascii() and value.isprintable() and value[0] not in " :<" and value[-1] != " ":
        return f"{attr}: {value}\n"
    if value and not _LDIF_UNSAFE.search(value):  # e.g. a TAB inside
        return f"{attr}: {value}\n"
    if value == "":
        return f"{attr}:\n"
    return f"{attr}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}\n"


# --------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------


@dataclass
class Entry:
    dn: str
    attrs: dict[str, list[str]]

    def get(self, attr: str) -> list[str]:
        for name, values in self.attrs.items():
            if name.lower() == attr.lower():
                return values
        return []

    @property
    def object_classes(self) -> set[str]:
        return {v.lower() for v in self.get("objectClass")}


@dataclass
class Dataset:
    """A directory tree: ``suffix`` and ``entries`` (parents first).

    ``passwords`` maps user DN -> cleartext password (the entries hold the
    hash); ``service_dn``/``service_password`` is the account the gateway
    binds with.  ``name`` is informational.
    """

    suffix: str
    service_dn: str
    service_password: str
    name: str = "dataset"
    entries: list[Entry] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)
    _index: dict[str, Entry] = field(default_factory=dict, repr=False, init=False, compare=False)

    def __post_init__(self) -> None:
        for e in self.entries:
            self._index[_norm(e.dn)] = e

    # -- building -------------------------------------------------------
    def add(self, dn: str, attrs: dict[str, Iterable[str] | str | int], password: str | None = None) -> Entry:
        """Append an entry; ``password`` (cleartext) becomes an ``{SSHA}``
        userPassword and is remembered in :attr:`passwords`."""
        key = _norm(dn)
        if key in self._index:
            raise ValueError(f"duplicate entry {dn!r}")
        if key != _norm(self.suffix):
            parent = _norm(parent_dn(dn))
            if parent not in self._index:
                raise ValueError(f"parent of {dn!r} must be added first")
        norm_attrs: dict[str, list[str]] = {}
        for name, value in attrs.items():
            if value is None:
                continue
            if isinstance(value, (str, int)):
                values = [str(value)]
            else:
                values = [str(v) for v in value]
            if values:
                norm_attrs[name] = values
        if any(n.lower() == "memberof" for n in norm_attrs):
            raise ValueError("memberOf is computed, do not set it")
        if password is not None:
            norm_attrs["userPassword"] = [ssha(password)]
            self.passwords[dn] = password
        entry = Entry(dn, norm_attrs)
        self.entries.append(entry)
        self._index[key] = entry
        return entry

    # -- queries ----------------------------------------------------------
    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, dn: str) -> bool:
        return _norm(dn) in self._index

    def entry(self, dn: str) -> Entry:
        return self._index[_norm(dn)]

    def member_of_map(self) -> dict[str, list[str]]:
        """normalised DN -> DNs of the groupOfNames that list it in
        ``member`` (what the memberof overlay puts in ``memberOf``).
        Members that are not entries of the dataset (dangling) get nothing,
        as with the overlay's default ``olcMemberOfDangling: ignore``."""
        result: dict[str, list[str]] = {}
        index = self._index
        for e in self.entries:
            members = e.attrs.get("member")
            if not members or "groupofnames" not in e.object_classes:
                continue
            for m in members:
                key = _norm(m)
                if key in index:
                    result.setdefault(key, []).append(e.dn)
        return result

    def all_member_of(self) -> dict[str, list[str]]:
        """entry DN -> its ``memberOf`` values, for every entry (empty list
        when in no groupOfNames); one pass, for bulk comparisons."""
        mo = self.member_of_map()
        return {e.dn: list(mo.get(_norm(e.dn), [])) for e in self.entries}

    def member_of(self, dn: str) -> list[str]:
        """The ``memberOf`` values slapd returns for ``dn`` (direct
        groupOfNames memberships, in dataset order)."""
        return list(self.member_of_map().get(_norm(dn), []))

    def transitive_groups(self, dn: str) -> set[str]:
        """All groupOfNames reachable from ``dn`` through ``member``
        (nested groups followed, cycles tolerated; ``dn`` itself excluded
        unless it is in a cycle)."""
        mo = self.member_of_map()
        seen: dict[str, str] = {}
        todo = [_norm(dn)]
        while todo:
            for g in mo.get(todo.pop(), []):
                k = _norm(g)
                if k not in seen:
                    seen[k] = g
                    todo.append(k)
        return set(seen.values())

    def users(self) -> list[Entry]:
        """Entries with a password (people and service accounts)."""
        return [self.entry(dn) for dn in self.passwords]

    # -- rendering ---------------------------------------------------------
    def iter_ldif(self, with_member_of: bool = True) -> Iterator[str]:
        mo = self.member_of_map() if with_member_of else {}
        line = _ldif_line
        for e in self.entries:
            parts = [line("dn", e.dn)]
            for name, values in e.attrs.items():
                for v in values:
                    parts.append(line(name, v))
            for g in mo.get(_norm(e.dn), ()):
                parts.append(line("memberOf", g))
            parts.append("\n")
            yield "".join(parts)

    def to_ldif(self, with_member_of: bool = True) -> str:
        """LDIF of all entries, with precomputed ``memberOf`` (for slapadd)
        unless ``with_member_of`` is false (for an online ldapadd, where the
        overlay computes it)."""
        return "".join(self.iter_ldif(with_member_of))

    def write_ldif(self, path, with_member_of: bool = True) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            for chunk in self.iter_ldif(with_member_of):
                fh.write(chunk)


# --------------------------------------------------------------------------
# dc=example,dc=test  (OpenLDAP shape)
# --------------------------------------------------------------------------

OPENLDAP_SUFFIX = "dc=example,dc=test"
PEOPLE_DN = f"ou=people,{OPENLDAP_SUFFIX}"
GROUPS_DN = f"ou=groups,{OPENLDAP_SUFFIX}"
SERVICES_DN = f"ou=services,{OPENLDAP_SUFFIX}"
MAIL_DOMAIN = "example.test"

SERVICE_DN = f"cn=gateway-svc,{SERVICES_DN}"
SERVICE_PASSWORD = "svc-Secret-pw-1"

# uid -> display name of the fixed people
FIXED_USERS = {
    "alice": "Alice Liddell",
    "bob": "Bob Baker",
    "carol": "Carol Carter",
    "dave": "Dave Davis",
    "erin": "Erin Evans",
    "frank": "Frank Foster",
    "locked": "Locked Out",
    "MixedCase": "Mixed Case",
}

ALICE_DN = f"uid=alice,{PEOPLE_DN}"
BOB_DN = f"uid=bob,{PEOPLE_DN}"
CAROL_DN = f"uid=carol,{PEOPLE_DN}"
DAVE_DN = f"uid=dave,{PEOPLE_DN}"
ERIN_DN = f"uid=erin,{PEOPLE_DN}"
FRANK_DN = f"uid=frank,{PEOPLE_DN}"  # member of no group at all
LOCKED_DN = f"uid=locked,{PEOPLE_DN}"
MIXED_UID = "MixedCase"
MIXED_DN = f"uid=MixedCase,{PEOPLE_DN}"

ALICE_DISPLAY_NAME = "Alice Liddell"
ALICE_DEPARTMENT = "research"
ALICE_QUOTA_MB = 2048
LOCKED_TIME = "20260101000000Z"  # pwdAccountLockedTime of LOCKED_DN

JSMITH_UID = "jsmith"
JSMITH_CN = "Smith, John (ops)*"
JSMITH_DN = f"cn={escape_rdn_value(JSMITH_CN)},{PEOPLE_DN}"  # cn=Smith\, John (ops)*,...
HASH_UID = "hash"
HASH_CN = '#Hash+Plus "Q" \\Back'
HASH_DN = f"cn={escape_rdn_value(HASH_CN)},{PEOPLE_DN}"  # cn=\#Hash\+Plus \"Q\" \\Back,...

DEEP_UID = "deep"
DEEP_DN = f"uid=deep,{PEOPLE_DN}"

DEVELOPERS_DN = f"cn=developers,{GROUPS_DN}"  # groupOfNames: alice, bob
ADMINS_DN = f"cn=admins,{GROUPS_DN}"  # groupOfNames: carol
AUDITORS_DN = f"cn=auditors,{GROUPS_DN}"  # groupOfUniqueNames: bob
OPS_DN = f"cn=ops,{GROUPS_DN}"  # posixGroup: memberUid dave, alice
OPS_GID = 5000
ENGINEERING_DN = f"cn=engineering,{GROUPS_DN}"  # groupOfNames: developers
STAFF_DN = f"cn=staff,{GROUPS_DN}"  # groupOfNames: engineering
CYCLE_A_DN = f"cn=cycle-a,{GROUPS_DN}"  # groupOfNames: cycle-b
CYCLE_B_DN = f"cn=cycle-b,{GROUPS_DN}"  # groupOfNames: cycle-a, erin
SPECIAL_GROUP_CN = "R&D (special)*"
SPECIAL_GROUP_DN = f"cn={escape_rdn_value(SPECIAL_GROUP_CN)},{GROUPS_DN}"  # jsmith, hash

USER_DNS = {
    "alice": ALICE_DN,
    "bob": BOB_DN,
    "carol": CAROL_DN,
    "dave": DAVE_DN,
    "erin": ERIN_DN,
    "frank": FRANK_DN,
    "locked": LOCKED_DN,
    MIXED_UID: MIXED_DN,
    JSMITH_UID: JSMITH_DN,
    HASH_UID: HASH_DN,
}
GROUP_DNS = {
    "developers": DEVELOPERS_DN,
    "admins": ADMINS_DN,
    "auditors": AUDITORS_DN,
    "ops": OPS_DN,
    "engineering": ENGINEERING_DN,
    "staff": STAFF_DN,
    "cycle-a": CYCLE_A_DN,
    "cycle-b": CYCLE_B_DN,
    SPECIAL_GROUP_CN: SPECIAL_GROUP_DN,
}


def extra_user_uid(i: int) -> str:
    """uid of generated user ``i`` (1-based): user00001 ..."""
    return f"user{i:05d}"


def extra_user_dn(i: int) -> str:
    return f"uid={extra_user_uid(i)},{PEOPLE_DN}"


def extra_team_dn(j: int) -> str:
    """DN of generated groupOfNames ``j`` (1-based): cn=team-0001 ..."""
    return f"cn=team-{j:04d},{GROUPS_DN}"


def extra_posix_group_dn(j: int) -> str:
    """DN of generated posixGroup ``j`` (1-based): cn=posix-01 ..."""
    return f"cn=posix-{j:02d},{GROUPS_DN}"


EXTRA_POSIX_GROUPS = 4


def extra_team_count(extra_users: int) -> int:
    return max(1, extra_users // 50) if extra_users else 0


def extra_user_teams(i: int, extra_users: int) -> list[int]:
    """The team numbers (1-based) generated user ``i`` is a member of: two
    distinct teams when there are at least two."""
    teams = extra_team_count(extra_users)
    a = (i - 1) % teams
    b = (a + 1 + (i - 1) // teams) % teams
    return [a + 1] if a == b else [a + 1, b + 1]


def extra_user_posix_groups(i: int) -> list[int]:
    """posixGroups (1-based) listing generated user ``i`` in memberUid."""
    return [(i - 1) % EXTRA_POSIX_GROUPS + 1]


def deep_group_dns(k: int) -> dict[str, list[str]]:
    """The groups of :func:`openldap_dataset`'s ``deep_groups_user_groups=k``:
    ``{"direct": [...], "parent": [...], "grand": [...]}`` (DNs).  ``deep``
    is a member of every "direct" group; each "direct" group is a member of
    one "parent" group, the first parents are members of a "grand" group
    (chains 2 and 3 deep).  len(direct)+len(parent)+len(grand) == k."""
    if k <= 0:
        return {"direct": [], "parent": [], "grand": []}
    direct = max(1, k // 2)
    grand = k // 10
    parent = k - direct - grand
    if parent <= 0:  # tiny k: no room for chains of three
        grand, parent = 0, k - direct
    return {
        "direct": [f"cn=deep-direct-{i:04d},{GROUPS_DN}" for i in range(1, direct + 1)],
        "parent": [f"cn=deep-parent-{i:04d},{GROUPS_DN}" for i in range(1, parent + 1)],
        "grand": [f"cn=deep-grand-{i:04d},{GROUPS_DN}" for i in range(1, grand + 1)],
    }


def _person(
    ds: Dataset,
    dn: str,
    uid: str,
    cn: str,
    sn: str,
    uid_number: int,
    extra_classes: Iterable[str] = (),
    given: str | None = None,
    **more,
) -> Entry:
    attrs: dict = {
        "objectClass": ["top", "inetOrgPerson", "posixAccount", *extra_classes],
        "uid": uid,
        "cn": cn,
        "sn": sn,
        "givenName": given,
        "displayName": cn,
        "mail": f"{uid}@{MAIL_DOMAIN}",
        "uidNumber": uid_number,
        "gidNumber": 10000,
        "homeDirectory": f"/home/{uid}",
        "loginShell": "/bin/bash",
    }
    attrs.update(more)
    return ds.add(dn, attrs, password=password_for(uid))


def _group_of_names(ds: Dataset, dn: str, members: list[str], **more) -> Entry:
    cn = _rdn_value(dn)
    return ds.add(dn, {"objectClass": ["top", "groupOfNames"], "cn": cn, "member": members, **more})


def _rdn_value(dn: str) -> str:
    rdn = _split_first_rdn(dn)[0]
    value = rdn.split("=", 1)[1]
    return re.sub(r"\\(.)", r"\1", value)


def openldap_dataset(
    extra_users: int = 0, deep_groups_user_groups: int = 0, *, with_ppolicy: bool = True
) -> Dataset:
    """The OpenLDAP-shaped directory under ``dc=example,dc=test`` (see the
    module constants for every fixed DN).

    ``extra_users=N`` adds ``user00001``..``userN`` (password
    ``password_for(uid)``), each a member of two of ``N//50`` generated
    groupOfNames ``cn=team-0001``.. (:func:`extra_user_teams`) and listed in
    memberUid of one of 4 posixGroups ``cn=posix-01``.. (gidNumber 6001..).

    ``deep_groups_user_groups=K`` adds user ``deep`` directly in ``K//2``
    groups, nested 2-3 deep so that it is in K groups transitively
    (:func:`deep_group_dns`).

    ``with_ppolicy=False`` leaves out ``pwdAccountLockedTime`` (for a slapd
    without the ppolicy module).
    """
    s = OPENLDAP_SUFFIX
    ds = Dataset(suffix=s, service_dn=SERVICE_DN, service_password=SERVICE_PASSWORD, name="openldap")
    ds.add(s, {"objectClass": ["top", "dcObject", "organization"], "dc": "example", "o": "Example Test"})
    for ou in (PEOPLE_DN, GROUPS_DN, SERVICES_DN):
        ds.add(ou, {"objectClass": ["top", "organizationalUnit"], "ou": _rdn_value(ou)})
    ds.add(
        SERVICE_DN,
        {
            "objectClass": ["top", "applicationProcess", "simpleSecurityObject"],
            "cn": "gateway-svc",
            "description": "service account of the auth gateway",
        },
        password=SERVICE_PASSWORD,
    )

    uid_number = 10001
    for uid, cn in FIXED_USERS.items():
        sn = cn.split(" ")[-1]
        extra = {}
        classes: list[str] = []
        if uid == "alice":
            classes = ["registryUser"]
            extra = {"departmentNumber": ALICE_DEPARTMENT, "registryQuotaMB": ALICE_QUOTA_MB}
        if uid == "locked" and with_ppolicy:
            extra = {"pwdAccountLockedTime": LOCKED_TIME}
        _person(ds, USER_DNS[uid], uid, cn, sn, uid_number, classes, given=cn.split(" ")[0], **extra)
        uid_number += 1
    _person(ds, JSMITH_DN, JSMITH_UID, JSMITH_CN, "Smith", uid_number, given="John")
    uid_number += 1
    _person(ds, HASH_DN, HASH_UID, HASH_CN, "Back", uid_number)
    uid_number += 1

    _group_of_names(ds, DEVELOPERS_DN, [ALICE_DN, BOB_DN])
    _group_of_names(ds, ADMINS_DN, [CAROL_DN])
    ds.add(
        AUDITORS_DN,
        {"objectClass": ["top", "groupOfUniqueNames"], "cn": "auditors", "uniqueMember": [BOB_DN]},
    )
    ds.add(
        OPS_DN,
        {
            "objectClass": ["top", "posixGroup"],
            "cn": "ops",
            "gidNumber": OPS_GID,
            "memberUid": ["dave", "alice"],
        },
    )
    _group_of_names(ds, ENGINEERING_DN, [DEVELOPERS_DN])
    _group_of_names(ds, STAFF_DN, [ENGINEERING_DN])
    _group_of_names(ds, CYCLE_A_DN, [CYCLE_B_DN])
    _group_of_names(ds, CYCLE_B_DN, [CYCLE_A_DN, ERIN_DN])
    _group_of_names(ds, SPECIAL_GROUP_DN, [JSMITH_DN, HASH_DN])

    if deep_groups_user_groups > 0:
        _person(ds, DEEP_DN, DEEP_UID, "Deep Nesting", "Nesting", 19999, given="Deep")
        groups = deep_group_dns(deep_groups_user_groups)
        direct, parents, grands = groups["direct"], groups["parent"], groups["grand"]
        for dn in direct:
            _group_of_names(ds, dn, [DEEP_DN])
        for j, dn in enumerate(parents):
            _group_of_names(ds, dn, direct[j :: len(parents)])
        for j, dn in enumerate(grands):
            _group_of_names(ds, dn, parents[j :: len(grands)])

    if extra_users > 0:
        _add_extra_users(ds, extra_users)
    return ds


def _add_extra_users(ds: Dataset, n: int) -> None:
    """Bulk part of :func:`openldap_dataset`; builds Entry objects directly
    (no per-entry validation) so 50,000 users take well under a second."""
    teams = extra_team_count(n)
    team_members: list[list[str]] = [[] for _ in range(teams)]
    posix_members: list[list[str]] = [[] for _ in range(EXTRA_POSIX_GROUPS)]
    entries = ds.entries
    index = ds._index
    passwords = ds.passwords
    people = PEOPLE_DN
    for i in range(1, n + 1):
        uid = extra_user_uid(i)
        dn = f"uid={uid},{people}"
        pw = password_for(uid)
        cn = f"User {i:05d}"
        attrs = {
            "objectClass": ["top", "inetOrgPerson", "posixAccount", "registryUser"],
            "uid": [uid],
            "cn": [cn],
            "sn": [f"{i:05d}"],
            "givenName": ["User"],
            "displayName": [cn],
            "mail": [f"{uid}@{MAIL_DOMAIN}"],
            "uidNumber": [str(100000 + i)],
            "gidNumber": ["10000"],
            "homeDirectory": [f"/home/{uid}"],
            "registryQuotaMB": [str(100 + i % 900)],
            "userPassword": [ssha(pw)],
        }
        e = Entry(dn, attrs)
        entries.append(e)
        index[_norm(dn)] = e
        passwords[dn] = pw
        for t in extra_user_teams(i, n):
            team_members[t - 1].append(dn)
        for p in extra_user_posix_groups(i):
            posix_members[p - 1].append(uid)
    for j, members in enumerate(team_members, start=1):
        dn = extra_team_dn(j)
        e = Entry(dn, {"objectClass": ["top", "groupOfNames"], "cn": [f"team-{j:04d}"], "member": members})
        entries.append(e)
        index[_norm(dn)] = e
    for j, members in enumerate(posix_members, start=1):
        if not members:
            continue
        dn = extra_posix_group_dn(j)
        e = Entry(
            dn,
            {
                "objectClass": ["top", "posixGroup"],
                "cn": [f"posix-{j:02d}"],
                "gidNumber": [str(6000 + j)],
                "memberUid": members,
            },
        )
        entries.append(e)
        index[_norm(dn)] = e


# --------------------------------------------------------------------------
# dc=corp,dc=example  (Active-Directory shape)
# --------------------------------------------------------------------------

AD_SUFFIX = "dc=corp,dc=example"
AD_UPN_SUFFIX = "corp.example"
AD_USERS_DN = f"cn=Users,{AD_SUFFIX}"
AD_GROUPS_DN = f"cn=Groups,{AD_SUFFIX}"
AD_SERVICE_SAM = "svc-gateway"
AD_SERVICE_DN = f"cn=svc-gateway,{AD_USERS_DN}"
AD_SERVICE_PASSWORD = "svc-Secret-pw-1"

UAC_NORMAL = 512  # NORMAL_ACCOUNT
UAC_DISABLED = 514  # NORMAL_ACCOUNT | ACCOUNTDISABLE
AD_LOCKOUT_TIME = 133000000000000000  # FILETIME (2022-06), non-zero = locked
AD_EXPIRED_FILETIME = 130000000000000000  # FILETIME (2012-12), in the past
AD_NEVER_EXPIRES = 9223372036854775807  # 0x7FFFFFFFFFFFFFFF

# sAMAccountName -> full name (the cn / RDN under cn=Users)
AD_USERS = {
    "ann": "Ann Pilot",  # normal, in Pilots (so in Registry Users at depth 2)
    "nick": "Nick Never",  # normal, accountExpires = never, in Registry Users
    "dan": "Dan Disabled",  # userAccountControl 514, in Pilots
    "lara": "Lara Locked",  # lockoutTime non-zero, in Pilots
    "ed": "Ed Expired",  # accountExpires in the past, in Pilots
    "olga": "Olga Outsider",  # normal, in no group
}
AD_USER_DNS = {sam: f"cn={escape_rdn_value(name)},{AD_USERS_DN}" for sam, name in AD_USERS.items()}
AD_ANN_DN = AD_USER_DNS["ann"]
AD_NEVER_EXPIRES_DN = AD_USER_DNS["nick"]
AD_DISABLED_DN = AD_USER_DNS["dan"]
AD_LOCKED_DN = AD_USER_DNS["lara"]
AD_EXPIRED_DN = AD_USER_DNS["ed"]
AD_NO_GROUP_DN = AD_USER_DNS["olga"]

AD_REGISTRY_USERS_DN = f"cn=Registry Users,{AD_GROUPS_DN}"  # member: Pilots, Nick
AD_PILOTS_DN = f"cn=Pilots,{AD_GROUPS_DN}"  # member: Ann, Dan, Lara, Ed
AD_GROUP_DNS = {"Registry Users": AD_REGISTRY_USERS_DN, "Pilots": AD_PILOTS_DN}


def ad_upn(sam: str) -> str:
    return f"{sam}@{AD_UPN_SUFFIX}"


def ad_shaped_dataset() -> Dataset:
    """An Active-Directory-shaped tree in slapd terms (see the AD_*
    constants): users ``cn=<Full Name>,cn=Users,dc=corp,dc=example`` with
    inetOrgPerson + adUser, groups under ``cn=Groups`` nested two levels,
    memberOf as the overlay maintains it.  Passwords ``password_for(sam)``."""
    s = AD_SUFFIX
    ds = Dataset(suffix=s, service_dn=AD_SERVICE_DN, service_password=AD_SERVICE_PASSWORD, name="ad")
    ds.add(s, {"objectClass": ["top", "dcObject", "organization"], "dc": "corp", "o": "Corp Example"})
    ds.add(
        AD_USERS_DN,
        {
            "objectClass": ["top", "container"],
            "cn": "Users",
            "description": "Default container for upgraded user accounts",
        },
    )
    ds.add(AD_GROUPS_DN, {"objectClass": ["top", "container"], "cn": "Groups"})

    def ad_user(dn: str, sam: str, name: str, password: str | None = None, **more) -> None:
        first, _, last = name.partition(" ")
        attrs = {
            "objectClass": ["top", "inetOrgPerson", "adUser"],
            "cn": name,
            "sn": last or name,
            "givenName": first,
            "displayName": name,
            "mail": f"{sam}@{AD_UPN_SUFFIX}",
            "sAMAccountName": sam,
            "userPrincipalName": ad_upn(sam),
            "userAccountControl": UAC_NORMAL,
        }
        attrs.update(more)
        ds.add(dn, attrs, password=password or password_for(sam))

    ad_user(
        AD_SERVICE_DN,
        AD_SERVICE_SAM,
        "svc-gateway",
        password=AD_SERVICE_PASSWORD,
        description="service account of the auth gateway",
    )
    per_user = {
        "nick": {"accountExpires": AD_NEVER_EXPIRES},
        "dan": {"userAccountControl": UAC_DISABLED},
        "lara": {"lockoutTime": AD_LOCKOUT_TIME},
        "ed": {"accountExpires": AD_EXPIRED_FILETIME},
        "olga": {"accountExpires": 0, "lockoutTime": 0},
    }
    for sam, name in AD_USERS.items():
        ad_user(AD_USER_DNS[sam], sam, name, **per_user.get(sam, {}))

    def group(dn: str, members: list[str]) -> None:
        ds.add(dn, {"objectClass": ["top", "groupOfNames"], "cn": _rdn_value(dn), "member": members})

    group(AD_PILOTS_DN, [AD_ANN_DN, AD_DISABLED_DN, AD_LOCKED_DN, AD_EXPIRED_DN])
    group(AD_REGISTRY_USERS_DN, [AD_PILOTS_DN, AD_NEVER_EXPIRES_DN])
    return ds


# --------------------------------------------------------------------------
# the contract suite's users, in a directory
# --------------------------------------------------------------------------

CONTRACT_SUFFIX = "dc=contract,dc=test"
CONTRACT_PEOPLE_DN = f"ou=people,{CONTRACT_SUFFIX}"
CONTRACT_GROUPS_DN = f"ou=groups,{CONTRACT_SUFFIX}"
CONTRACT_SERVICE_DN = f"cn=gateway-svc,{CONTRACT_SUFFIX}"


def contract_user_dn(username: str) -> str:
    return f"uid={escape_rdn_value(username)},{CONTRACT_PEOPLE_DN}"


def contract_group_dn(name: str) -> str:
    return f"cn={escape_rdn_value(name)},{CONTRACT_GROUPS_DN}"


def contract_dataset(users: list[dict], password: str, extra_groups: Iterable[str] = ()) -> Dataset:
    """The core contract suite's seed users as directory entries, all with ``password``.

    ``groups`` become groupOfNames (every group named by a user or in ``extra_groups``, so
    tests can add members later), ``overrides.maxStorageMB`` becomes ``registryQuotaMB``
    and ``disabled`` becomes a ppolicy ``pwdAccountLockedTime``.
    """
    ds = Dataset(
        suffix=CONTRACT_SUFFIX,
        service_dn=CONTRACT_SERVICE_DN,
        service_password=SERVICE_PASSWORD,
        name="contract",
    )
    ds.add(
        CONTRACT_SUFFIX,
        {"objectClass": ["top", "dcObject", "organization"], "dc": "contract", "o": "Contract Test"},
    )
    for ou in (CONTRACT_PEOPLE_DN, CONTRACT_GROUPS_DN):
        ds.add(ou, {"objectClass": ["top", "organizationalUnit"], "ou": _rdn_value(ou)})
    ds.add(
        CONTRACT_SERVICE_DN,
        {"objectClass": ["top", "applicationProcess", "simpleSecurityObject"], "cn": "gateway-svc"},
        password=SERVICE_PASSWORD,
    )
    members: dict[str, list[str]] = {name: [] for name in extra_groups}
    for number, user in enumerate(users, start=20001):
        name = user["username"]
        extra: dict = {"mail": user.get("email") or f"{name.split('@')[0]}@{MAIL_DOMAIN}"}
        classes = ["registryUser"]
        quota = (user.get("overrides") or {}).get("maxStorageMB")
        if quota is not None:
            extra["registryQuotaMB"] = quota
        if user.get("disabled"):
            extra["pwdAccountLockedTime"] = LOCKED_TIME
        attrs = {
            "objectClass": ["top", "inetOrgPerson", "posixAccount", *classes],
            "uid": name,
            "cn": name,
            "sn": name,
            "displayName": name,
            "uidNumber": number,
            "gidNumber": 10000,
            "homeDirectory": f"/home/{number}",
            **extra,
        }
        ds.add(contract_user_dn(name), attrs, password=password)
        for group in user.get("groups", ()):
            members.setdefault(group, []).append(contract_user_dn(name))
    for group, dns in sorted(members.items()):
        # groupOfNames needs a member; an empty group lists the suffix as a placeholder.
        _group_of_names(ds, contract_group_dn(group), dns or [CONTRACT_SUFFIX])
    return ds
