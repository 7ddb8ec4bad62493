"""TLS pinned by the pairing: a counterpart's station is reached only with a key it named.

A pin is the SHA-256 of a certificate's SubjectPublicKeyInfo, so a certificate
renewed on the same key keeps its pin.  The invitation (signed) carries the
inviter's pins and the acceptance (bound into the pairing secret) the acceptor's;
each station keeps the other's with the channel and changes them only on a
``tls-pins`` item that came through the channel.

A connection to a pinned endpoint checks no certificate authority: whoever issued
the certificate, its key must be one of the pins, and the check is made when the
handshake ends, before the first byte of the request is written.  So a man in the
middle with any other certificate, from the same CA or not, gets a TLS handshake
and nothing else: no path, no header, no envelope.  A channel without pins (paired
before pinning, or an http endpoint in a test bed) trusts the system's CAs.
"""

from __future__ import annotations

import hashlib
import ssl
from pathlib import Path
from typing import Any

import httpcore
import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

MAX_CERTIFICATE_BYTES = 64 * 1024


class TlsError(Exception):
    """A certificate file that cannot be read or parsed."""


class PinMismatch(httpx.ConnectError):
    """The peer presented a key it was not pinned to: nothing was sent."""

    def __init__(self) -> None:
        super().__init__(
            "the counterpart's TLS key is not one it pinned at pairing or since "
            "(a man in the middle, or a certificate changed without announcing it): "
            "nothing was sent"
        )


def pin_of(certificate_der: bytes) -> bytes:
    """The pin of a certificate: SHA-256 of its SubjectPublicKeyInfo."""
    cert = x509.load_der_x509_certificate(certificate_der)
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).digest()


def pin_of_file(path: Path) -> bytes:
    """The pin of the first certificate in a PEM file; TlsError if there is none."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CERTIFICATE_BYTES + 1)
    except OSError as exc:
        raise TlsError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_CERTIFICATE_BYTES:
        raise TlsError(f"{path} is larger than a certificate file ({MAX_CERTIFICATE_BYTES} bytes)")
    try:
        cert = x509.load_pem_x509_certificates(data)[0]
    except (ValueError, IndexError):
        raise TlsError(f"{path} holds no PEM certificate") from None
    return pin_of(cert.public_bytes(Encoding.DER))


def pinned_transport(pins: frozenset[bytes]) -> httpx.HTTPTransport:
    """An HTTP transport whose TLS connections must present one of ``pins``."""
    context = ssl.create_default_context()
    context.check_hostname = False  # the pin names the key; no CA vouches for the name
    context.verify_mode = ssl.CERT_NONE
    transport = httpx.HTTPTransport(verify=context)
    # httpx builds its pool without a network backend of our choosing; this is the
    # same pool with the one that checks the pin (tests/station/test_tls.py holds it).
    transport._pool = httpcore.ConnectionPool(
        ssl_context=context, network_backend=_PinnedBackend(pins)
    )
    return transport


class _PinnedBackend(httpcore.SyncBackend):
    def __init__(self, pins: frozenset[bytes]) -> None:
        self.pins = pins

    def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.NetworkStream:
        return _PinnedStream(super().connect_tcp(*args, **kwargs), self.pins)


class _PinnedStream(httpcore.NetworkStream):
    """A TCP stream whose TLS upgrade fails, and closes, unless the key is pinned."""

    def __init__(self, inner: httpcore.NetworkStream, pins: frozenset[bytes]) -> None:
        self._inner, self._pins = inner, pins

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, timeout)
        ssl_object = tls.get_extra_info("ssl_object")
        der = (
            None if ssl_object is None else ssl_object.getpeercert(True)
        )  # the DER, checked by no CA
        if der is None or pin_of(der) not in self._pins:
            tls.close()
            raise PinMismatch
        return tls
