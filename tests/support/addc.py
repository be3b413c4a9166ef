"""A throw-away Samba Active Directory domain controller for tests.

Plain Python, no pytest import (like :mod:`tests.support.servers`, whose helpers it
reuses).  :meth:`SambaADServer.start` copies a provisioned domain into
``tmpdir`` and runs ``samba -i`` on it with only the ``ldap`` service.  The
domain is provisioned once per machine and Samba version into a cached
template directory under the system temp dir (``gateway-test-addc-template-*``,
33 MB; first start ~6.5 s, ~12 s with the standard content baked in); later
starts copy it and are up in ~0.6 s.  ``TEST_ADDC_NO_CACHE=1`` provisions
afresh every time.

Samba hard-codes its LDAP ports (389, 636, 3268, 3269), so each DC gets a
private loopback address of its own (``127.A.B.C``, any address in 127/8 is
local on Linux without configuration) and binds only there
(``interfaces = 127.A.B.C/8``, ``bind interfaces only = yes``); the usual
127.0.0.1 ports are never touched.  Kerberos, DNS, SMB, RPC, NBT and
winbindd are not started.  Simple binds over plain LDAP are allowed
(``ldap server require strong auth = no``); LDAPS on 636 and StartTLS on 389
use a CA and server certificate generated per instance whose subjectAltName
holds the private address and the DC's DNS name, so hostname verification
against ``host`` works (``ca_file``).

Directory facts observed with Samba 4.17 (simple bind, ldap3): every failed
bind is result 49 ``invalidCredentials`` with diagnosticMessage
``80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error,
data <code>, v1db1`` where ``<code>`` is ``52e`` wrong password / unknown
user / bare sAMAccountName, ``533`` disabled, ``701`` account expired,
``773`` must change password, ``775`` locked out (the last four only with the
correct password -- a wrong password is always ``52e`` -- except ``775``,
which is returned for any password once locked).  Anonymous binds succeed but
anonymous searches outside the rootDSE fail with result 1
``operationsError`` ``00002020: Operation unavailable without
authentication``.  ``memberOf`` and LDAP_MATCHING_RULE_IN_CHAIN never include
the primary group (Domain Users).

:func:`create_standard_content` (or ``start(..., standard_content=True)``,
which bakes it into the cached template) adds the users, groups and policies
named by the constants below; every password is ``<sAMAccountName>-Pass-
word-1`` (:func:`tests.support.ldapdata.password_for` convention).

Needs root (ports below 1024) and the Debian packages ``samba``,
``samba-common-bin`` (samba-tool), ``samba-ad-provision`` and
``samba-dsdb-modules``; a missing one raises :class:`ServerBinaryMissing`.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.servers import (
    ServerBinaryMissing,
    ServerStartError,
    _launcher,
    _Managed,
    _popen,
    _tail,
    find_executable,
    read_logs,
    wait_for,
)

__all__ = [
    "SambaADServer",
    "create_standard_content",
    "REALM",
    "NETBIOS_DOMAIN",
    "BASE_DN",
    "USERS_DN",
    "UPN_SUFFIX",
    "ADMIN_UPN",
    "ADMIN_PASSWORD",
    "ANN_DN",
    "BOB_DN",
    "DISABLED_DN",
    "EXPIRED_DN",
    "LOCKED_DN",
    "MUSTCHANGE_DN",
    "SVC_DN",
    "SVC_UPN",
    "SVC_PASSWORD",
    "ADMIN_DN",
    "ANN_MAIL",
    "BOB_MAIL",
    "DC_FQDN",
    "LOCKOUT_THRESHOLD",
    "PILOTS_DN",
    "REGISTRY_USERS_DN",
    "PASSWORDS",
    "UPNS",
    "DN_OF",
    "BIND_DATA_CODES",
]

# --------------------------------------------------------------------------
# the domain and its standard content
# --------------------------------------------------------------------------

REALM = "AD.GATEWAY.TEST"
NETBIOS_DOMAIN = "GWAD"
DNS_DOMAIN = REALM.lower()
BASE_DN = "DC=ad,DC=gateway,DC=test"
USERS_DN = f"CN=Users,{BASE_DN}"
UPN_SUFFIX = DNS_DOMAIN
DC_HOSTNAME = "dc1"
DC_FQDN = f"{DC_HOSTNAME}.{DNS_DOMAIN}"

ADMIN_PASSWORD = "Admin-Pass-word-1"
ADMIN_UPN = f"Administrator@{UPN_SUFFIX}"
ADMIN_DN = f"CN=Administrator,{USERS_DN}"


def _pw(sam: str) -> str:
    return f"{sam}-Pass-word-1"


# sAMAccountName -> DN.  ann's CN differs from her sAMAccountName on purpose
# (samba-tool names a user with given name + surname "<given> <surname>").
ANN_DN = f"CN=Ann Pilot,{USERS_DN}"
BOB_DN = f"CN=Bob Builder,{USERS_DN}"
DISABLED_DN = f"CN=disabled,{USERS_DN}"
EXPIRED_DN = f"CN=expired,{USERS_DN}"
LOCKED_DN = f"CN=locked,{USERS_DN}"
MUSTCHANGE_DN = f"CN=mustchange,{USERS_DN}"
SVC_DN = f"CN=svc-gateway,{USERS_DN}"
PILOTS_DN = f"CN=Pilots,{USERS_DN}"
REGISTRY_USERS_DN = f"CN=Registry Users,{USERS_DN}"

ANN_MAIL = "ann@example.test"
BOB_MAIL = "bob@example.test"

DN_OF = {
    "ann": ANN_DN,
    "bob": BOB_DN,
    "disabled": DISABLED_DN,
    "expired": EXPIRED_DN,
    "locked": LOCKED_DN,
    "mustchange": MUSTCHANGE_DN,
    "svc-gateway": SVC_DN,
}
PASSWORDS = {sam: _pw(sam) for sam in DN_OF}
UPNS = {sam: f"{sam}@{UPN_SUFFIX}" for sam in DN_OF}
SVC_UPN = UPNS["svc-gateway"]
SVC_PASSWORD = PASSWORDS["svc-gateway"]

# Only ``locked`` gets this fine-grained policy; the domain itself never
# locks anybody out (threshold 0), so wrong-password tests can't lock ann.
LOCKOUT_PSO = "gateway-test-lockout"
LOCKOUT_THRESHOLD = 3

# The "data <hex>" of the diagnosticMessage of a failed simple bind.
BIND_DATA_CODES = {
    "wrong_password": "52e",  # also unknown user, and any wrong password below
    "disabled": "533",
    "expired": "701",
    "must_change": "773",
    "locked": "775",  # for the right and for a wrong password
    "password_expired": "532",  # (maxPwdAge; not provoked here)
}


def _standard_tool_calls() -> list[list[str]]:
    """samba-tool invocations that create the standard content (everything
    but the lockout itself, which needs failed binds against a running DC)."""
    return [
        [
            "user",
            "create",
            "ann",
            PASSWORDS["ann"],
            "--given-name=Ann",
            "--surname=Pilot",
            f"--mail-address={ANN_MAIL}",
        ],
        [
            "user",
            "create",
            "bob",
            PASSWORDS["bob"],
            "--given-name=Bob",
            "--surname=Builder",
            f"--mail-address={BOB_MAIL}",
        ],
        ["user", "create", "disabled", PASSWORDS["disabled"]],
        ["user", "disable", "disabled"],
        ["user", "create", "expired", PASSWORDS["expired"]],
        ["user", "setexpiry", "expired", "--days=0"],
        ["user", "create", "mustchange", PASSWORDS["mustchange"], "--must-change-at-next-login"],
        ["user", "create", "locked", PASSWORDS["locked"]],
        ["user", "create", "svc-gateway", PASSWORDS["svc-gateway"], "--description=gateway service account"],
        ["group", "add", "Pilots"],
        ["group", "add", "Registry Users"],
        ["group", "addmembers", "Pilots", "ann"],
        ["group", "addmembers", "Registry Users", "Pilots"],
        [
            "domain",
            "passwordsettings",
            "pso",
            "create",
            LOCKOUT_PSO,
            "10",
            f"--account-lockout-threshold={LOCKOUT_THRESHOLD}",
            "--account-lockout-duration=600",
            "--reset-account-lockout-after=600",
            "--complexity=off",
            "--min-pwd-length=1",
            "--history-length=0",
            "--min-pwd-age=0",
            "--max-pwd-age=0",
        ],
        ["domain", "passwordsettings", "pso", "apply", LOCKOUT_PSO, "locked"],
    ]


# Domain-wide settings of every provision: no complexity, no history, no
# expiry, no lockout.
_POLICY_CALL = [
    "domain",
    "passwordsettings",
    "set",
    "--complexity=off",
    "--min-pwd-length=1",
    "--history-length=0",
    "--min-pwd-age=0",
    "--max-pwd-age=0",
    "--account-lockout-threshold=0",
]

# Bump when the template layout or content changes (part of the cache key).
_TEMPLATE_FORMAT = "1"
_TEMPLATE_PREFIX = "gateway-test-addc-template-"
_BUILD_PREFIX = "gateway-test-addc-build-"

# The ports ``server services = ldap`` listens on.
_LDAP_PORTS = (389, 636, 3268, 3269)


# --------------------------------------------------------------------------
# binaries
# --------------------------------------------------------------------------


def _binaries() -> tuple[str, str]:
    samba = find_executable("samba", fallbacks=("/usr/sbin/samba",))
    if not samba:
        raise ServerBinaryMissing(
            "samba (the AD DC daemon) not found; install the Debian package "
            "'samba' (apt-get install samba samba-ad-provision "
            "samba-dsdb-modules)"
        )
    tool = find_executable("samba-tool", fallbacks=("/usr/bin/samba-tool",))
    if not tool:
        raise ServerBinaryMissing(
            "samba-tool not found; install the Debian package "
            "'samba-common-bin' (apt-get install samba-common-bin)"
        )
    if not Path("/usr/share/samba/setup/provision.ldif").exists():
        raise ServerBinaryMissing(
            "Samba AD provisioning data (/usr/share/samba/setup) not found; "
            "install the Debian package 'samba-ad-provision' (apt-get install "
            "samba-ad-provision samba-dsdb-modules)"
        )
    return samba, tool


def _tool_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KRB5", "SMB", "LDB", "TDB"))}
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8")
    return env


def _run_tool(tool: str, args: Sequence[str], conf: Path, timeout: float = 120.0) -> str:
    cmd = [tool, *args, f"--configfile={conf}"]
    res = subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=_tool_env(),
        start_new_session=True,
        timeout=timeout,
    )
    if res.returncode != 0:
        raise RuntimeError(
            f"samba-tool {' '.join(args)} failed (exit {res.returncode}):\n"
            + res.stdout.decode(errors="replace")[-2000:]
            + res.stderr.decode(errors="replace")[-4000:]
        )
    return res.stdout.decode(errors="replace")


def _samba_version(samba: str) -> str:
    res = subprocess.run([samba, "-V"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    return res.stdout.decode(errors="replace").strip()


# --------------------------------------------------------------------------
# smb.conf and TLS material
# --------------------------------------------------------------------------


def _write_conf(dc: Path, host: str) -> Path:
    """(Re)write ``dc/etc/smb.conf``: every path inside ``dc``, LDAP only,
    bound only to ``host``."""
    for sub in ("etc", "run", "log", "cache", "state", "bind-dns", "private/tls"):
        (dc / sub).mkdir(parents=True, exist_ok=True)
    tls = dc / "private" / "tls"
    conf = dc / "etc" / "smb.conf"
    conf.write_text(
        f"""\
# written by tests/support/addc.py
[global]
\tnetbios name = {DC_HOSTNAME.upper()}
\tworkgroup = {NETBIOS_DOMAIN}
\trealm = {REALM}
\tserver role = active directory domain controller
\tserver services = ldap
\tinterfaces = {host}/8
\tbind interfaces only = yes
\tldap server require strong auth = no
\ttls enabled = yes
\ttls keyfile = {tls}/key.pem
\ttls certfile = {tls}/cert.pem
\ttls cafile = {tls}/ca.pem
\ttls crlfile =
\tprivate dir = {dc}/private
\tlock directory = {dc}
\tstate directory = {dc}/state
\tcache directory = {dc}/cache
\tbinddns dir = {dc}/bind-dns
\tpid directory = {dc}/run
\tncalrpc dir = {dc}/run/ncalrpc
\twinbindd socket directory = {dc}/run/winbindd
\tntp signd socket directory = {dc}/run/ntp_signd
\tlog file = {dc}/log/samba.log
\tlog level = 1 auth_audit:3
\tpanic action =
\tdns proxy = no

[sysvol]
\tpath = {dc}/state/sysvol
\tread only = No

[netlogon]
\tpath = {dc}/state/sysvol/{DNS_DOMAIN}/scripts
\tread only = No
"""
    )
    return conf


def _write_tls(dc: Path, host: str) -> Path:
    """A CA and a server certificate for ``host`` (IP SAN) and the DC's DNS
    name; returns the CA file.  Samba insists on a 0600 key file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    tls = dc / "private" / "tls"
    tls.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gateway tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Samba AD test CA {host}"),
        ]
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DC_FQDN)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address(host)),
                    x509.DNSName(DC_FQDN),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_path = tls / "key.pem"
    if key_path.exists():
        key_path.unlink()
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    (tls / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    ca_file = tls / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return ca_file


# --------------------------------------------------------------------------
# the provisioned template
# --------------------------------------------------------------------------

_template_lock = threading.Lock()


def _sweep_stale_builds(parent: Path, min_age: float = 900.0) -> None:
    now = time.time()
    for d in parent.glob(_BUILD_PREFIX + "*"):
        try:
            if now - d.stat().st_mtime >= min_age:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            continue


def _template(samba: str, tool: str, standard_content: bool) -> Path:
    """The directory holding a provisioned, never started ``dc`` tree,
    built on first use and then cached in the system temp dir (keyed by the
    Samba version and everything this module puts into it).  Set
    ``TEST_ADDC_NO_CACHE=1`` to provision afresh every time."""
    parent = Path(tempfile.gettempdir())
    key = hashlib.sha256(
        "\0".join(
            [
                _TEMPLATE_FORMAT,
                _samba_version(samba),
                REALM,
                NETBIOS_DOMAIN,
                ADMIN_PASSWORD,
                repr(_POLICY_CALL),
                repr(_standard_tool_calls()) if standard_content else "bare",
            ]
        ).encode()
    ).hexdigest()[:16]
    final = parent / f"{_TEMPLATE_PREFIX}{key}"
    no_cache = os.environ.get("TEST_ADDC_NO_CACHE", "") not in ("", "0")
    with _template_lock:
        if not no_cache and (final / "READY").exists():
            return final
        _sweep_stale_builds(parent)
        build = Path(tempfile.mkdtemp(prefix=_BUILD_PREFIX, dir=parent))
        try:
            dc = build / "dc"
            dc.mkdir()
            res = subprocess.run(
                [
                    tool,
                    "domain",
                    "provision",
                    "--configfile=/dev/null",  # ignore /etc/samba/smb.conf
                    f"--realm={REALM}",
                    f"--domain={NETBIOS_DOMAIN}",
                    f"--adminpass={ADMIN_PASSWORD}",
                    "--server-role=dc",
                    "--dns-backend=NONE",
                    f"--host-name={DC_HOSTNAME}",
                    "--host-ip=127.0.0.1",
                    f"--targetdir={dc}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=_tool_env(),
                start_new_session=True,
                timeout=300,
            )
            (build / "provision.log").write_bytes(res.stdout)
            if res.returncode != 0:
                raise ServerStartError(
                    f"samba-tool domain provision failed (exit {res.returncode}):\n"
                    + res.stdout.decode(errors="replace")[-4000:]
                )
            conf = _write_conf(dc, "127.0.0.1")
            _run_tool(tool, _POLICY_CALL, conf)
            if standard_content:
                for args in _standard_tool_calls():
                    _run_tool(tool, args, conf)
            (build / "READY").write_text(key + "\n")
            if no_cache:
                return build  # the caller's copy is the only user
            try:
                os.rename(build, final)
            except OSError:
                # Another process got there first (the target exists).
                if (final / "READY").exists():
                    shutil.rmtree(build, ignore_errors=True)
                    return final
                raise
            return final
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise


# --------------------------------------------------------------------------
# private loopback addresses
# --------------------------------------------------------------------------

_handed_out_hosts: set[str] = set()
_host_lock = threading.Lock()


def _ports_free(host: str) -> bool:
    for port in _LDAP_PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def _private_loopback() -> str:
    """A 127.A.B.C address (A >= 64, far from 127.0.0.1 and Debian's
    127.0.1.1) on which none of the LDAP ports is bound, never handed out
    before by this process."""
    rng = random.SystemRandom()
    with _host_lock:
        for _ in range(50):
            host = f"127.{rng.randrange(64, 255)}.{rng.randrange(0, 256)}.{rng.randrange(1, 255)}"
            if host in _handed_out_hosts:
                continue
            if _ports_free(host):
                _handed_out_hosts.add(host)
                return host
    raise ServerStartError(
        "no private loopback address with free LDAP ports 389/636/3268/3269 "
        "found (is something listening on 0.0.0.0:389 or 0.0.0.0:636?)"
    )


# --------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------


class SambaADServer(_Managed):
    """A Samba AD DC answering LDAP on ``host`` (a private 127.x address):
    ``url`` (``ldap://host:389``, StartTLS capable), ``ldaps_url``
    (``ldaps://host:636``), ``gc_url`` (global catalog, 3268); ``ca_file``
    verifies both TLS flavours with hostname checking against ``host``.
    ``samba_tool(...)`` administers it; :func:`create_standard_content`
    fills it."""

    realm = REALM
    netbios_domain = NETBIOS_DOMAIN
    base_dn = BASE_DN
    users_dn = USERS_DN
    dns_hostname = DC_FQDN
    admin_upn = ADMIN_UPN
    admin_dn = ADMIN_DN
    admin_password = ADMIN_PASSWORD

    def __init__(self, proc, host, dc, conf, ca_file, log_dir, tool):
        self.proc = proc
        self.host = host
        self.port = 389
        self.ldaps_port = 636
        self.dc = dc
        self.conf = conf
        self.ca_file = str(ca_file)
        self.log_dir = log_dir
        self._tool = tool
        self.url = f"ldap://{host}:389"
        self.ldaps_url = f"ldaps://{host}:636"
        self.gc_url = f"ldap://{host}:3268"
        self.standard_content = False
        self._remove_dc = False

    # -- administration -----------------------------------------------------
    def samba_tool(self, *args: str, timeout: float = 120.0) -> str:
        """Run ``samba-tool ARGS`` on this DC's database (directly on its
        sam.ldb, as an admin on the DC itself would) and return stdout;
        RuntimeError with the output on failure."""
        return _run_tool(self._tool, args, self.conf, timeout=timeout)

    def admin_connection(self, **kwargs):
        """A bound ldap3 ``Connection`` as Administrator (plain LDAP)."""
        import ldap3

        return ldap3.Connection(
            ldap3.Server(self.url, connect_timeout=5),
            user=self.admin_upn,
            password=self.admin_password,
            auto_bind=True,
            receive_timeout=10,
            **kwargs,
        )

    def simple_bind(self, user: str, password: str) -> tuple[bool, int, str]:
        """One simple bind on a fresh connection: (ok, result code,
        diagnosticMessage)."""
        import ldap3

        conn = ldap3.Connection(
            ldap3.Server(self.url, connect_timeout=5), user=user, password=password, receive_timeout=10
        )
        try:
            ok = conn.bind()
            return ok, conn.result.get("result"), conn.result.get("message") or ""
        finally:
            conn.unbind()

    def log_text(self) -> str:
        return read_logs(self.log_dir / "samba.stdout.log", self.log_dir / "samba.stderr.log")

    # -- lifecycle --------------------------------------------------------
    @classmethod
    def start(cls, tmpdir, timeout: float = 180.0, standard_content: bool = False) -> SambaADServer:
        """Copy a provisioned domain into ``tmpdir/dc`` (provisioning it
        first if no cached template exists), start samba on a fresh private
        loopback address and wait until LDAP and LDAPS answer.  With
        ``standard_content`` the users/groups of :func:`create_standard_content`
        come from the template and only the lockout is provoked here."""
        samba, tool = _binaries()
        if os.geteuid() != 0:
            raise ServerStartError(
                "the Samba AD DC binds the privileged LDAP ports 389/636; run the tests as root"
            )
        import ldap3

        t0 = time.monotonic()
        log_dir = Path(tmpdir)
        log_dir.mkdir(parents=True, exist_ok=True)
        template = _template(samba, tool, standard_content)
        dc = log_dir / "dc"
        remove_dc = False
        # Unix socket paths (private/ldap_priv/ldapi, msg.sock/<pid>) must fit
        # in 108 bytes: a deep tmpdir gets its tree in the system temp dir.
        if len(str(dc.resolve() / "private" / "ldap_priv" / "ldapi")) > 100:
            dc = Path(tempfile.mkdtemp(prefix="gwaddc-")) / "dc"
            remove_dc = True
        if dc.exists():
            shutil.rmtree(dc)
        shutil.copytree(template / "dc", dc, symlinks=True)
        if os.environ.get("TEST_ADDC_NO_CACHE", "") not in ("", "0"):
            shutil.rmtree(template, ignore_errors=True)

        last_log = ""
        for _attempt in range(3):  # retry only on an address/port race
            host = _private_loopback()
            conf = _write_conf(dc, host)
            ca_file = _write_tls(dc, host)
            for stale in (dc / "run").glob("*.pid"):
                stale.unlink()
            proc = _popen(
                _launcher(None, "KILL") + [samba, "--interactive", f"--configfile={conf}"],
                log_dir,
                "samba",
                env=_tool_env(),
                cwd=str(dc),
            )
            server = cls(proc, host, dc, conf, ca_file, log_dir, tool)
            server._remove_dc = remove_dc
            server._register()

            def ready(proc=proc, server=server, host=host):
                if proc.poll() is not None:
                    raise ServerStartError("exited")
                conn = ldap3.Connection(ldap3.Server(server.url, connect_timeout=1), receive_timeout=2)
                try:
                    conn.open()
                    conn.search(
                        "", "(objectClass=*)", search_scope=ldap3.BASE, attributes=["defaultNamingContext"]
                    )
                    if not conn.entries:
                        return False
                finally:
                    conn.unbind()
                with socket.create_connection((host, 636), timeout=1):
                    return True

            remaining = max(5.0, timeout - (time.monotonic() - t0))
            try:
                wait_for(ready, timeout=remaining, interval=0.1)
            except (TimeoutError, ServerStartError):
                exited = proc.poll() is not None
                log = _tail(log_dir / "samba.stderr.log", 60) + "\n" + _tail(log_dir / "samba.stdout.log", 20)
                port_race = exited and "ADDRESS_ALREADY_ASSOCIATED" in log
                if port_race:
                    server._remove_dc = False  # the tree is reused below
                server.kill()
                if port_race:
                    last_log = log
                    continue
                what = (
                    f"samba exited with code {proc.returncode}"
                    if exited
                    else f"LDAP on {host}:389 did not answer within {remaining:.0f}s"
                )
                raise ServerStartError(f"{what}; last log lines:\n{log}") from None
            if standard_content:
                _provoke_lockout(server)
                server.standard_content = True
            server.startup_seconds = time.monotonic() - t0
            return server
        if remove_dc:
            shutil.rmtree(dc.parent, ignore_errors=True)
        raise ServerStartError(f"samba could not bind its LDAP ports:\n{last_log}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM to the samba parent (it takes its children down);
        SIGKILL to the whole group after ``timeout``."""
        self._terminate(timeout)
        self._cleanup()
        self._unregister()

    def _cleanup(self) -> None:
        if self._remove_dc:
            shutil.rmtree(self.dc.parent, ignore_errors=True)


# --------------------------------------------------------------------------
# standard content
# --------------------------------------------------------------------------


def _provoke_lockout(server: SambaADServer) -> None:
    for _ in range(LOCKOUT_THRESHOLD):
        server.simple_bind(UPNS["locked"], "not-the-password")
    ok, code, message = server.simple_bind(UPNS["locked"], PASSWORDS["locked"])
    if ok or "data 775" not in message:
        raise ServerStartError(
            f"could not lock out {UPNS['locked']}: bind gave ok={ok} code={code} message={message!r}"
        )


def create_standard_content(server: SambaADServer) -> SambaADServer:
    """Create (once) on a running DC:

    * ``ann`` (``ANN_DN``, "Ann Pilot", mail ann@example.test), member of
      ``Pilots``, which is a member of ``Registry Users`` (nested);
    * ``bob`` (``BOB_DN``, "Bob Builder", mail bob@example.test), no groups
      but Domain Users (his primary group, invisible in memberOf);
    * ``disabled`` (bind: data 533), ``expired`` (accountExpires in the
      past; data 701), ``mustchange`` (pwdLastSet 0; data 773), ``locked``
      (locked out for 10 h by a fine-grained password policy that only he
      has, threshold 3; data 775);
    * ``svc-gateway`` (``SVC_DN``), a plain user for the gateway's searches.

    Passwords: ``PASSWORDS[sam]`` (``<sam>-Pass-word-1``); UPNs
    ``UPNS[sam]`` (``<sam>@ad.gateway.test``).  Returns ``server``."""
    if not server.standard_content:
        for args in _standard_tool_calls():
            server.samba_tool(*args)
        _provoke_lockout(server)
        server.standard_content = True
    return server
