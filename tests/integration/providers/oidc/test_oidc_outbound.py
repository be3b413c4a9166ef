"""Calls to an IdP are bounded in time whatever the IdP does (real sockets on loopback): an
answer dripped byte by byte is cut at the deadline, and an IdP that was down at start is not
asked again by every login (the cold-cache circuit breaker)."""

from __future__ import annotations

import ssl
import time

import pytest
import requests

from providers.base import ProviderUnavailable
from providers.oidc.metadata import COLD_RETRY_SECONDS, Http
from providers.oidc.provider import OidcProvider
from providers.oidc.settings import OidcSettings
from tests.support.loopback import DRIPPED_BODIES, DRIPPED_HEADS, DrippingServer, LoopbackServer

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("head, byte", DRIPPED_BODIES)
def test_a_dripped_answer_is_cut_at_the_deadline(head, byte):
    _assert_cut_within(DrippingServer(head, byte), 2.0)


@pytest.mark.parametrize("head, byte", DRIPPED_HEADS)
def test_dripped_headers_are_cut_within_twice_the_timeout(head, byte):
    """requests bounds each read, not the wait for the headers: a watchdog does."""
    _assert_cut_within(DrippingServer(head, byte, interval=0.2), 2.5)


def _assert_cut_within(server: DrippingServer, seconds: float) -> None:
    """A call with a 1 s timeout to ``server`` fails as timed out in less than ``seconds``."""
    session = requests.Session()
    session.trust_env = False
    try:
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable, match="timed out"):
            Http("idp", 1.0, session).get_json(f"http://127.0.0.1:{server.port}/jwks", "jwks")
        assert time.monotonic() - started < seconds
    finally:
        session.close()
        server.stop()


def test_an_idp_down_at_start_is_not_asked_by_every_login():
    server = DrippingServer(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b" ")
    settings = OidcSettings(
        issuer=f"http://127.0.0.1:{server.port}", client_id="gw", client_secret="s", timeout_seconds=0.5
    )
    provider = OidcProvider("idp", settings, lambda name: name)
    try:
        with pytest.raises(ProviderUnavailable):
            provider.start("http://127.0.0.1:9/cb")
        took = []
        for _ in range(20):
            started = time.monotonic()
            with pytest.raises(ProviderUnavailable):
                provider.start("http://127.0.0.1:9/cb")
            took.append(time.monotonic() - started)
        # Answered at once: none of them waits for the IdP's timeout (each is timed on its own, so
        # that a loaded machine's slowness is not added up twenty times).
        assert max(took) < settings.timeout_seconds, took
        assert server.connections == 1
        time.sleep(COLD_RETRY_SECONDS + 0.1)
        with pytest.raises(ProviderUnavailable):
            provider.start("http://127.0.0.1:9/cb")
        assert server.connections == 2  # and tried again after the pause
    finally:
        provider.close()
        server.stop()


def _self_signed(tmp_path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "idp.pem", tmp_path / "idp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_file), str(key_file)


class SlowTlsServer(LoopbackServer):
    """A TLS server whose handshake messages reach the client one byte every ``interval``."""

    def __init__(self, cert_file: str, key_file: str, interval: float = 0.2):
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(cert_file, key_file)
        self._interval = interval
        super().__init__()

    def handle(self, connection):
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self._context.wrap_bio(incoming, outgoing, server_side=True)
        try:
            while not self._stop.is_set():
                incoming.write(connection.recv(65536))
                try:
                    tls.do_handshake()
                    return
                except ssl.SSLWantReadError:
                    pass
                for byte in outgoing.read():
                    time.sleep(self._interval)
                    connection.sendall(bytes([byte]))
        except (OSError, ssl.SSLError):
            pass
        finally:
            connection.close()


def test_a_tls_handshake_dripped_byte_by_byte_is_cut_within_twice_the_timeout(tmp_path):
    """CPython's ssl bounds the whole handshake by the socket timeout (urllib3 shakes hands
    before the call's watchdog knows the connection)."""
    cert_file, key_file = _self_signed(tmp_path)
    server = SlowTlsServer(cert_file, key_file)
    session = requests.Session()
    session.trust_env = False
    session.verify = cert_file
    try:
        started = time.monotonic()
        with pytest.raises(ProviderUnavailable, match="timed out"):
            Http("idp", 1.0, session).get_json(f"https://127.0.0.1:{server.port}/jwks", "jwks")
        assert time.monotonic() - started < 2.5
    finally:
        session.close()
        server.stop()
