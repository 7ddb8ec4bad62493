"""TLS pinned by the invitation, between two real stations serving HTTPS.

One certificate authority issues every certificate here: alpha's, bravo's, alpha's
next one, and a man in the middle's for the very same address.  A client trusting
that CA would talk to the man in the middle (checked below, so the attack is real);
the stations pin each other's keys from the pairing and give it a TLS handshake and
not one byte more.  A rotation goes through the channel (``tls announce``).
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from backchannel.cli.demo import free_port
from backchannel.station.core.tls import pin_of_file
from backchannel.store import repository as repo

from .conftest import (
    LoopbackServer,
    StationProcess,
    cli,
    make_station,
    pair_running,
    post_message,
    start_together,
    status_of,
    wait_until,
    write_pem,
)

LOOPBACK = "127.0.0.1"


@dataclass
class Issuer:
    """A test CA: one key, and certificates for the loopback address signed with it."""

    folder: Path
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, folder: Path) -> Issuer:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
        cert = (
            _builder(name, name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        issuer = cls(folder, key, cert)
        (folder / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return issuer

    def issue(self, name: str) -> tuple[Path, Path]:
        """A certificate for 127.0.0.1 and its key, as PEM files named after ``name``."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, LOOPBACK)])
        cert = (
            _builder(subject, self.cert.subject, key.public_key())
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return write_pem(self.folder, name, cert, key)


def _builder(subject: x509.Name, issuer: x509.Name, key: object) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
    )


class ManInTheMiddle(LoopbackServer):
    """A TLS server for the counterpart's address with a certificate from the same CA:
    it keeps what it decrypts and answers every request itself (it need not relay to
    read: whatever reaches it in the clear is lost)."""

    ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

    def __init__(self, cert: tuple[Path, Path]) -> None:
        self.handshakes = 0
        self.decrypted = bytearray()
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(*cert)
        super().__init__()

    @property
    def url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    def handle(self, raw: socket.socket) -> None:
        raw.settimeout(10)
        try:
            with self._context.wrap_socket(raw, server_side=True) as tls:
                self.handshakes += 1
                request = bytearray()
                while b"\r\n\r\n" not in request and (data := tls.recv(65536)):
                    request += data
                self.decrypted += request
                if request:
                    tls.sendall(self.ANSWER)
        except (OSError, ssl.SSLError):
            pass  # the pinned station hung up after the handshake
        finally:
            raw.close()


@dataclass
class Line:
    alpha: StationProcess
    bravo: StationProcess
    issuer: Issuer
    certs: dict[str, tuple[Path, Path]]


def https_station(tmp: Path, name: str, cert: tuple[Path, Path], ca: Path) -> StationProcess:
    station = make_station(tmp, name, scheme="https", tls_cert=str(cert[0]),
                           tls_key=str(cert[1]), tls_pins=[pin_of_file(cert[0]).hex()])  # fmt: skip
    station.verify = ssl.create_default_context(cafile=str(ca))
    return station


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Line]:
    tmp = tmp_path_factory.mktemp("tls")
    issuer = Issuer.create(tmp)
    certs = {name: issuer.issue(name) for name in ("alpha", "alpha-next", "bravo", "mallory")}
    ca = tmp / "ca.pem"
    alpha = https_station(tmp, "alpha", certs["alpha"], ca)
    bravo = https_station(tmp, "bravo", certs["bravo"], ca)
    try:
        start_together(alpha, bravo)
        pair_running(alpha, bravo)  # the acceptance itself goes over the pinned line
        yield Line(alpha, bravo, issuer, certs)
    finally:
        alpha.stop()
        bravo.stop()


def delivered(station: StationProcess) -> bool:
    return status_of(station).outbox_backlog == 0


def route_to(station: StationProcess, url: str) -> None:
    """Send the station's connections for its peer to ``url`` (a hijacked route)."""
    opened = station.open()
    try:
        with opened.db.transaction() as s:
            row = repo.channel(s, opened.resolve(None))
            assert row is not None
            row.peer_endpoint = url
    finally:
        opened.close()


def test_the_pairing_pins_each_side_and_items_flow_over_https(line: Line) -> None:
    for station in (line.alpha, line.bravo):
        assert status_of(station).tls_pins == 1
    post_message(line.bravo, "Pinned both ways.")
    wait_until(lambda: delivered(line.bravo), "bravo's message delivered over HTTPS")
    post_message(line.alpha, "And back.")
    wait_until(lambda: delivered(line.alpha), "alpha's message delivered over HTTPS")


def test_a_man_in_the_middle_with_a_certificate_of_the_same_ca_gets_nothing(line: Line) -> None:
    ca = line.issuer.folder / "ca.pem"
    mallory = ManInTheMiddle(line.certs["mallory"])
    try:
        # The attack works on whoever trusts the CA: its request is read in the clear.
        trusting = ssl.create_default_context(cafile=str(ca))
        assert httpx.get(mallory.url + "/health", verify=trusting, timeout=30).text == "ok"
        assert b"GET /health" in mallory.decrypted
        del mallory.decrypted[:]
        route_to(line.bravo, mallory.url)
        post_message(line.bravo, "Not for Mallory.")
        wait_until(
            lambda: "not one it pinned" in (status_of(line.bravo).last_error or ""),
            "bravo refusing the unpinned key",
        )
        assert mallory.handshakes >= 1
        assert bytes(mallory.decrypted) == b""  # not a request line, not an envelope
        assert not delivered(line.bravo)
    finally:
        route_to(line.bravo, line.alpha.url)
        mallory.stop()
    wait_until(lambda: delivered(line.bravo), "delivered once the route is back")


def test_a_rotation_goes_through_the_channel(line: Line) -> None:
    alpha, bravo = line.alpha, line.bravo
    old, new = line.certs["alpha"], line.certs["alpha-next"]
    folder = str(alpha.folder)
    refused = cli("tls", "use", "--station", folder, "--cert", str(new[0]), "--key", str(new[1]))
    assert refused.returncode == 1
    assert "not pinned by the counterparts yet" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    both = cli("tls", "announce", "--station", folder, "--cert", str(old[0]), "--cert", str(new[0]))
    assert both.returncode == 0, both.stderr
    wait_until(lambda: status_of(bravo).tls_pins == 2, "bravo pinning both of alpha's keys")
    used = cli("tls", "use", "--station", folder, "--cert", str(new[0]), "--key", str(new[1]))
    assert used.returncode == 0, used.stderr
    alpha.stop()
    alpha.start()  # now presenting the new certificate
    post_message(bravo, "To the new key.")
    wait_until(lambda: delivered(bravo), "delivered to the new certificate")
    only_new = cli("tls", "announce", "--station", folder, "--cert", str(new[0]))
    assert only_new.returncode == 0, only_new.stderr
    wait_until(lambda: status_of(bravo).tls_pins == 1, "bravo pinning the new key alone")
    shown = cli("tls", "show", "--station", folder)
    assert pin_of_file(new[0]).hex() in shown.stdout
    assert pin_of_file(old[0]).hex() not in shown.stdout


def test_serve_refuses_a_certificate_the_counterparts_do_not_pin(line: Line) -> None:
    mallory = line.certs["mallory"]
    done = cli("serve", "--station", str(line.alpha.folder), "--port", str(free_port()),
               "--tls-cert", str(mallory[0]), "--tls-key", str(mallory[1]))  # fmt: skip
    assert done.returncode == 1
    assert "not one counterparts pin" in done.stderr
