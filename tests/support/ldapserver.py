"""A throw-away OpenLDAP ``slapd`` for tests, on free loopback ports.

``SlapdServer.start(tmpdir, dataset=...)`` builds a cn=config directory with
``slapadd -n0``, bulk-loads the :class:`tests.support.ldapdata.Dataset` with
``slapadd -n1 -q`` (memberOf precomputed, since slapadd bypasses the memberof
overlay) and runs ``slapd -d stats`` in the foreground with its log in
``tmpdir``.  It serves plain LDAP + StartTLS on ``url`` and LDAPS on
``ldaps_url``, with certificates from a fresh :class:`TestPKI`.

Directory configuration (mdb, one database):

* rootdn ``cn=admin,<suffix>`` / :data:`ROOT_PASSWORD` (:meth:`SlapdServer.add_ldif`
  and :meth:`SlapdServer.modify_ldif` use it);
* memberof overlay (groupOfNames/member -> memberOf, memberof-refint on) and
  the refint overlay for member/uniqueMember;
* ACLs: ``userPassword`` -- anonymous auth, self write, nobody reads it;
  everything else readable by everyone (anonymous included);
* schema core, cosine, nis, inetorgperson, ``tests/support/ldap_schema/*.ldif``
  (registryUser, adUser, container), and the ppolicy module loaded *only* for
  its schema (``pwdAccountLockedTime`` exists; the overlay is not configured,
  so nothing is enforced on binds);
* ``allow_unauthenticated_bind=True`` adds ``olcAllows: bind_anon_dn
  bind_anon_cred``: a simple bind with a DN and an empty password succeeds,
  as anonymous (that is ``bind_anon_dn``; ``bind_anon_cred`` additionally
  lets an empty DN with a non-empty password bind anonymously);
* ``require_client_cert=True`` sets ``olcTLSVerifyClient: demand``.

:class:`BlackholeServer` accepts TCP connections and never answers.

Plain Python, no pytest import.  Missing binaries raise
:class:`tests.support.servers.ServerBinaryMissing` naming the Debian package.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import selectors
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tests.support.servers import (
    _ADDR_IN_USE,
    PortInUse,
    ServerBinaryMissing,
    ServerStartError,
    _launcher,
    _Managed,
    _popen,
    find_executable,
    free_port,
    log_since,
    read_logs,
    wait_for,
)

__all__ = [
    "SlapdServer",
    "BlackholeServer",
    "TestPKI",
    "ROOT_PASSWORD",
    "SCHEMA_DIR",
]

ROOT_PASSWORD = "admin-Secret-pw-1"
SCHEMA_DIR = Path(__file__).resolve().parent / "ldap_schema"
SYSTEM_SCHEMA_DIR = Path(os.environ.get("TEST_SLAPD_SCHEMA_DIR", "/etc/ldap/schema"))
MODULE_DIR = Path(os.environ.get("TEST_SLAPD_MODULE_DIR", "/usr/lib/ldap"))
SYSTEM_SCHEMAS = ("core", "cosine", "nis", "inetorgperson")
MODULES = ("back_mdb", "memberof", "refint", "ppolicy")


# --------------------------------------------------------------------------
# binaries
# --------------------------------------------------------------------------


def _find_binary(name: str, package: str) -> str:
    found = find_executable(name, fallbacks=(f"/usr/sbin/{name}", f"/usr/bin/{name}"))
    if found:
        return found
    raise ServerBinaryMissing(
        f"{name} not found; install the Debian package '{package}' (apt-get install {package})"
    )


def _slapd_binaries() -> tuple[str, str]:
    slapd = _find_binary("slapd", "slapd")
    slapadd = _find_binary("slapadd", "slapd")
    for mod in MODULES:
        if not (MODULE_DIR / f"{mod}.la").exists():
            raise ServerBinaryMissing(
                f"slapd module {MODULE_DIR / (mod + '.la')} missing; install the "
                "Debian package 'slapd' (apt-get install slapd)"
            )
    for schema in SYSTEM_SCHEMAS:
        if not (SYSTEM_SCHEMA_DIR / f"{schema}.ldif").exists():
            raise ServerBinaryMissing(
                f"schema {SYSTEM_SCHEMA_DIR / (schema + '.ldif')} missing; install "
                "the Debian package 'slapd' (apt-get install slapd)"
            )
    return slapd, slapadd


def _tool_env() -> dict:
    """Environment for slapd and ldap-utils: no ~/.ldaprc or
    /etc/ldap/ldap.conf (LDAPNOINIT), C locale."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LDAP")}
    env.update(LDAPNOINIT="1", LC_ALL="C", LANG="C")
    return env


# --------------------------------------------------------------------------
# PKI
# --------------------------------------------------------------------------


class TestPKI:
    """Throw-away certificates (ECDSA P-256), PEM files in ``directory``:

    * ``ca_file`` -- the CA that signed the server and client certificates;
    * ``wrong_ca_file`` -- an unrelated CA (verification against it fails);
    * ``server_cert_file``/``server_key_file`` -- CN=localhost, SAN
      DNS:localhost + IP:127.0.0.1, serverAuth;
    * ``client_cert_file``/``client_key_file`` -- CN=gateway-client, signed
      by the CA, clientAuth;
    * ``wrong_client_cert_file``/``wrong_client_key_file`` -- a client
      certificate signed by the wrong CA.
    """

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        d = self.directory
        self.ca_file = d / "ca.pem"
        self.ca_key_file = d / "ca.key"
        self.wrong_ca_file = d / "wrong-ca.pem"
        self.wrong_ca_key_file = d / "wrong-ca.key"
        self.server_cert_file = d / "server.pem"
        self.server_key_file = d / "server.key"
        self.client_cert_file = d / "client.pem"
        self.client_key_file = d / "client.key"
        self.wrong_client_cert_file = d / "wrong-client.pem"
        self.wrong_client_key_file = d / "wrong-client.key"

    @classmethod
    def generate(cls, directory) -> TestPKI:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        pki = cls(directory)
        pki.directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.UTC)
        not_before = now - datetime.timedelta(days=1)
        not_after = now + datetime.timedelta(days=3650)

        def name(cn: str):
            return x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Gateway Tests"),
                    x509.NameAttribute(NameOID.COMMON_NAME, cn),
                ]
            )

        def write_key(key, path: Path) -> None:
            path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            os.chmod(path, 0o600)

        def write_cert(cert, path: Path) -> None:
            path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

        def make_ca(cn: str):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = (
                x509.CertificateBuilder()
                .subject_name(name(cn))
                .issuer_name(name(cn))
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(not_before)
                .not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=True,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=True,
                        crl_sign=True,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256())
            )
            return key, cert

        def make_leaf(cn: str, ca_key, ca_cert, server: bool):
            key = ec.generate_private_key(ec.SECP256R1())
            builder = (
                x509.CertificateBuilder()
                .subject_name(name(cn))
                .issuer_name(ca_cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(not_before)
                .not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=True,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=True,
                        key_cert_sign=False,
                        crl_sign=False,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .add_extension(
                    x509.ExtendedKeyUsage(
                        [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                    ),
                    critical=False,
                )
                .add_extension(
                    x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
                )
            )
            if server:
                builder = builder.add_extension(
                    x509.SubjectAlternativeName(
                        [
                            x509.DNSName("localhost"),
                            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        ]
                    ),
                    critical=False,
                )
            return key, builder.sign(ca_key, hashes.SHA256())

        ca_key, ca_cert = make_ca("Gateway Test CA")
        wrong_key, wrong_cert = make_ca("Unrelated Test CA")
        srv_key, srv_cert = make_leaf("localhost", ca_key, ca_cert, server=True)
        cli_key, cli_cert = make_leaf("gateway-client", ca_key, ca_cert, server=False)
        wcli_key, wcli_cert = make_leaf("gateway-client", wrong_key, wrong_cert, server=False)
        write_key(ca_key, pki.ca_key_file)
        write_cert(ca_cert, pki.ca_file)
        write_key(wrong_key, pki.wrong_ca_key_file)
        write_cert(wrong_cert, pki.wrong_ca_file)
        write_key(srv_key, pki.server_key_file)
        write_cert(srv_cert, pki.server_cert_file)
        write_key(cli_key, pki.client_key_file)
        write_cert(cli_cert, pki.client_cert_file)
        write_key(wcli_key, pki.wrong_client_key_file)
        write_cert(wcli_cert, pki.wrong_client_cert_file)
        return pki


# --------------------------------------------------------------------------
# cn=config
# --------------------------------------------------------------------------


def _config_ldif(
    *,
    base: Path,
    suffix: str,
    root_dn: str,
    root_password: str,
    service_dn: str,
    pki: TestPKI,
    allow_unauthenticated_bind: bool,
    require_client_cert: bool,
    size_limit: str,
) -> str:
    from tests.support.ldapdata import ssha

    root_hash = ssha(root_password)
    parts = [
        f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {base / "run" / "slapd.pid"}
olcArgsFile: {base / "run" / "slapd.args"}
olcToolThreads: 2
olcThreads: 16
olcTLSCACertificateFile: {pki.ca_file}
olcTLSCertificateFile: {pki.server_cert_file}
olcTLSCertificateKeyFile: {pki.server_key_file}
olcTLSVerifyClient: {"demand" if require_client_cert else "never"}
"""
    ]
    if allow_unauthenticated_bind:
        # bind_anon_dn: DN + empty password -> anonymous (RFC 4513
        # "unauthenticated bind"); bind_anon_cred: empty DN + a password ->
        # anonymous.  Both are the lax behaviour a gateway must not trust.
        parts.append("olcAllows: bind_anon_dn bind_anon_cred\n")
    parts.append(f"""
dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULE_DIR}
""")
    parts.extend(f"olcModuleLoad: {{{i}}}{m}.la\n" for i, m in enumerate(MODULES))
    parts.append("""
dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

""")
    schema_files = [SYSTEM_SCHEMA_DIR / f"{s}.ldif" for s in SYSTEM_SCHEMAS]
    schema_files += sorted(SCHEMA_DIR.glob("*.ldif"))
    for f in schema_files:
        parts.append(f.read_text().strip("\n") + "\n\n")
    parts.append(f"""\
dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSizeLimit: {size_limit}

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcRootDN: cn=admin,cn=config
olcRootPW: {root_hash}

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {suffix}
olcRootDN: {root_dn}
olcRootPW: {root_hash}
olcDbDirectory: {base / "db"}
olcDbMaxSize: 4294967296
olcDbNoSync: TRUE
olcDbCheckpoint: 0 0
olcSizeLimit: {size_limit}
olcDbIndex: objectClass eq
olcDbIndex: uid eq,sub
olcDbIndex: cn eq,sub
olcDbIndex: mail eq
olcDbIndex: member eq
olcDbIndex: uniqueMember eq
olcDbIndex: memberUid eq
olcDbIndex: memberOf eq
olcDbIndex: entryUUID eq
olcDbIndex: sAMAccountName eq
olcDbIndex: userPrincipalName eq
olcAccess: {{0}}to attrs=userPassword by anonymous auth by self write by * none
olcAccess: {{1}}to * by dn.exact="{service_dn}" read by * read

dn: olcOverlay={{0}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {{0}}memberof
olcMemberOfRefInt: TRUE
olcMemberOfDangling: ignore
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf

dn: olcOverlay={{1}}refint,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcRefintConfig
olcOverlay: {{1}}refint
olcRefintAttribute: member
olcRefintAttribute: uniqueMember
olcRefintNothing: {root_dn}

""")
    return "".join(parts)


# --------------------------------------------------------------------------
# slapd
# --------------------------------------------------------------------------


def _run_tool(cmd: list[str], what: str, timeout: float) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=_tool_env(),
        timeout=timeout,
        start_new_session=True,
    )
    if proc.returncode != 0:
        out = proc.stdout.decode(errors="replace")
        raise ServerStartError(
            f"{what} failed (exit code {proc.returncode}): {' '.join(cmd)}\n"
            + "\n".join(out.splitlines()[-40:])
        )
    return proc


# LDAPMessage{1, SearchRequest{base "", scope base, (objectClass=*), attrs 1.1}}
_ROOT_DSE_SEARCH = bytes.fromhex(
    "302a 020101 6325 0400 0a0100 0a0100 020100 020100 010100"
    " 870b 6f626a656374436c617373 3005 0403 312e31".replace(" ", "")
)


def _ldap_answers(port: int, pki: TestPKI | None = None) -> bool:
    """An anonymous rootDSE search answers (LDAP protocol, not just TCP);
    over TLS (with the client certificate) when ``pki`` is given."""
    import ssl

    req = _ROOT_DSE_SEARCH
    with socket.create_connection(("127.0.0.1", port), timeout=1.0) as raw:
        sock = raw
        if pki is not None:
            ctx = ssl.create_default_context(cafile=str(pki.ca_file))
            ctx.load_cert_chain(str(pki.client_cert_file), str(pki.client_key_file))
            sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        sock.settimeout(1.0)
        sock.sendall(req)
        data = sock.recv(4096)
        return bool(data) and data[0] == 0x30


class SlapdServer(_Managed):
    """A private slapd; see the module docstring.  Attributes: ``url``
    (ldap://, StartTLS available), ``ldaps_url``, ``ldap_port``,
    ``ldaps_port``, ``base_dn``, ``root_dn``/``root_password``,
    ``service_dn``/``service_password``, ``dataset``, ``pki`` (a
    :class:`TestPKI`), ``base`` (working directory), ``startup_seconds``
    and ``load_seconds`` (slapadd time of the last start)."""

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        slapd: str,
        base: Path,
        config_dir: Path,
        dataset,
        pki: TestPKI,
        ldap_port: int,
        ldaps_port: int,
        root_dn: str,
    ):
        self.slapd_binary = slapd
        self.base = base
        self.config_dir = config_dir
        self.dataset = dataset
        self.pki = pki
        self.root_dn = root_dn
        self.root_password = ROOT_PASSWORD
        self.base_dn = dataset.suffix
        self.service_dn = dataset.service_dn
        self.service_password = dataset.service_password
        self.load_seconds = 0.0
        self._set_ports(ldap_port, ldaps_port)
        self.proc = None  # type: ignore[assignment]

    def _set_ports(self, ldap_port: int, ldaps_port: int) -> None:
        self.ldap_port = self.port = ldap_port
        self.ldaps_port = ldaps_port
        self.url = f"ldap://{self.host}:{ldap_port}"
        self.ldaps_url = f"ldaps://{self.host}:{ldaps_port}"

    def __repr__(self) -> str:
        return f"<SlapdServer {self.base_dn} {self.url} {self.ldaps_url}>"

    # -- logs ---------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        """slapd's debug output (``-d stats``: connections, binds, searches)."""
        return self.base / "slapd.stderr.log"

    def log_text(self) -> str:
        return read_logs(self.base / "slapd.stdout.log", self.base / "slapd.stderr.log")

    def wait_for_log(self, text: str, timeout: float = 30.0, *, after: str | None = None) -> str:
        """Wait until ``text`` appears in :meth:`log_text` (with ``after``: in the part of it
        that follows the first occurrence of ``after``, a mark the test made) and return the
        log.  slapd logs an operation's RESULT line just *after* sending the
        result, so a client can see the answer before the log has it."""

        def found():
            log = self.log_text()
            part = log if after is None else log.split(after, 1)[1] if after in log else ""
            return log if text in part else None

        where = "" if after is None else f" after {after!r}"
        message = f"{text!r} not in slapd's log{where} ({self.log_path})"
        return wait_for(found, timeout=timeout, interval=0.02, message=message)

    # -- lifecycle ----------------------------------------------------------
    @classmethod
    def start(
        cls,
        tmpdir,
        *,
        dataset,
        allow_unauthenticated_bind: bool = False,
        require_client_cert: bool = False,
        timeout: float = 30.0,
        size_limit: str | int = "unlimited",
        load_timeout: float = 600.0,
    ) -> SlapdServer:
        """Build config and database in a new directory under ``tmpdir``,
        load ``dataset`` and start slapd.  ``size_limit`` is slapd's
        olcSizeLimit (default unlimited; OpenLDAP's own default is 500).
        ``timeout`` bounds the wait for slapd to answer, ``load_timeout``
        the slapadd runs."""
        slapd, slapadd = _slapd_binaries()
        t0 = time.monotonic()
        tmpdir = Path(tmpdir)
        tmpdir.mkdir(parents=True, exist_ok=True)
        base = Path(tempfile.mkdtemp(prefix="slapd-", dir=tmpdir))
        os.chmod(base, 0o755)
        config_dir = base / "slapd.d"
        for d in (config_dir, base / "db", base / "run"):
            d.mkdir()
        pki = TestPKI.generate(base / "pki")
        root_dn = f"cn=admin,{dataset.suffix}"

        config = _config_ldif(
            base=base,
            suffix=dataset.suffix,
            root_dn=root_dn,
            root_password=ROOT_PASSWORD,
            service_dn=dataset.service_dn,
            pki=pki,
            allow_unauthenticated_bind=allow_unauthenticated_bind,
            require_client_cert=require_client_cert,
            size_limit=str(size_limit),
        )
        (base / "config.ldif").write_text(config)
        data_ldif = base / "data.ldif"
        dataset.write_ldif(data_ldif)
        _run_tool(
            [slapadd, "-n0", "-F", str(config_dir), "-l", str(base / "config.ldif")],
            "slapadd of cn=config",
            timeout=60,
        )
        t_load = time.monotonic()
        _run_tool(
            [slapadd, "-n1", "-q", "-F", str(config_dir), "-l", str(data_ldif)],
            "slapadd of the dataset",
            timeout=load_timeout,
        )
        load_seconds = time.monotonic() - t_load

        last_log = ""
        for _attempt in range(3):  # new ports only on a port race
            server = cls(
                slapd=slapd,
                base=base,
                config_dir=config_dir,
                dataset=dataset,
                pki=pki,
                ldap_port=free_port(),
                ldaps_port=free_port(),
                root_dn=root_dn,
            )
            server.load_seconds = load_seconds
            try:
                server._launch(timeout)
            except PortInUse as exc:
                last_log = str(exc)
                continue
            server.startup_seconds = time.monotonic() - t0
            return server
        raise ServerStartError(f"slapd could not bind its ports:\n{last_log}")

    def _command(self) -> list[str]:
        return _launcher(None, "KILL") + [
            self.slapd_binary,
            "-h",
            f"ldap://{self.host}:{self.ldap_port}/ ldaps://{self.host}:{self.ldaps_port}/",
            "-F",
            str(self.config_dir),
            "-d",
            "stats",
        ]

    def _launch(self, timeout: float) -> None:
        log_before = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.proc = _popen(self._command(), self.base, "slapd", env=_tool_env(), cwd=str(self.base))
        self._register()
        proc = self.proc

        def ready():
            if proc.poll() is not None:
                raise ServerStartError("exited")
            return _ldap_answers(self.ldap_port) and _ldap_answers(self.ldaps_port, self.pki)

        try:
            wait_for(ready, timeout=timeout, interval=0.05)
        except (TimeoutError, ServerStartError):
            exited = proc.poll() is not None
            self.kill()
            tail = log_since(self.log_path, log_before)
            if exited and _ADDR_IN_USE.search(tail):
                raise PortInUse(tail) from None
            raise ServerStartError(
                f"slapd did not answer on {self.url} / {self.ldaps_url} within "
                f"{timeout:.0f}s (exit code {proc.returncode}); last log lines:\n{tail}"
            ) from None

    def stop(self, timeout: float = 10.0) -> None:
        """Clean shutdown (SIGTERM); SIGKILL after ``timeout``."""
        if self.proc is not None:
            self._terminate(timeout)
        self._unregister()

    def restart(self, timeout: float = 30.0) -> None:
        """Stop and start again on the same ports with the same data (and
        whatever was added online since)."""
        self.stop()
        t0 = time.monotonic()
        deadline = t0 + timeout
        while True:
            try:
                self._launch(max(1.0, deadline - time.monotonic()))
                break
            except PortInUse as exc:
                # The old listener is gone (slapd exited), so this is short-lived.
                if time.monotonic() >= deadline:
                    raise ServerStartError(
                        f"slapd could not re-bind {self.url} / {self.ldaps_url}:\n{exc}"
                    ) from None
                time.sleep(0.2)
        self.startup_seconds = time.monotonic() - t0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- online changes -------------------------------------------------------
    def _ldap_tool(self, tool: str, args: list[str], ldif: str) -> str:
        binary = _find_binary(tool, "ldap-utils")
        cmd = [binary, "-x", "-H", self.url, "-D", self.root_dn, "-w", self.root_password, *args]
        proc = subprocess.run(
            cmd,
            input=ldif.encode("utf-8"),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=_tool_env(),
            timeout=120,
        )
        out = proc.stdout.decode(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"{tool} failed (exit code {proc.returncode}):\n{out}")
        return out

    def add_ldif(self, text: str) -> str:
        """Add the entries in LDIF ``text`` online as the rootdn (ldapadd),
        so overlays run: adding a groupOfNames sets memberOf on its members."""
        return self._ldap_tool("ldapmodify", ["-a"], text)

    def modify_ldif(self, text: str) -> str:
        """Apply LDIF change records (``changetype: modify`` / ``delete`` /
        ...) online as the rootdn (ldapmodify)."""
        return self._ldap_tool("ldapmodify", [], text)


# --------------------------------------------------------------------------
# a port that accepts and never answers
# --------------------------------------------------------------------------


class BlackholeServer:
    """Listens on 127.0.0.1:<free port>, accepts every connection, reads and
    discards whatever arrives and never sends a byte (a hung LDAP server)."""

    def __init__(self, sock: socket.socket, port: int):
        self._sock = sock
        self.port = port
        self.host = "127.0.0.1"
        self.url = f"ldap://{self.host}:{port}"
        self.ldaps_url = f"ldaps://{self.host}:{port}"
        self.connections_accepted = 0
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"blackhole-{port}", daemon=True)

    @classmethod
    def start(cls) -> BlackholeServer:
        last: OSError | None = None
        for _attempt in range(5):
            port = free_port()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError as exc:
                sock.close()
                last = exc
                continue
            sock.listen(128)
            sock.setblocking(False)
            server = cls(sock, port)
            server._thread.start()
            return server
        raise ServerStartError(f"blackhole could not bind a port: {last}")

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._sock, selectors.EVENT_READ)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.1):
                    if key.fileobj is self._sock:
                        try:
                            conn, _addr = self._sock.accept()
                        except (BlockingIOError, OSError):
                            continue
                        conn.setblocking(False)
                        self._conns.append(conn)
                        self.connections_accepted += 1
                        sel.register(conn, selectors.EVENT_READ)
                    else:
                        conn = key.fileobj
                        try:
                            data = conn.recv(65536)
                        except BlockingIOError:
                            continue
                        except OSError:
                            data = b""
                        if not data:  # peer closed
                            sel.unregister(conn)
                            conn.close()
        finally:
            sel.close()

    def close(self) -> None:
        """Stop accepting and close every connection (peers see EOF)."""
        self._stop.set()
        self._thread.join(5)
        for conn in self._conns:
            try:
                conn.close()
            except OSError:
                pass
        self._conns.clear()
        self._sock.close()

    stop = close

    def __enter__(self) -> BlackholeServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
