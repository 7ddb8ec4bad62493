"""Talking to a counterpart's station over HTTP: where we may post, what we read back.

An endpoint comes from an invitation, which anyone can write.  So before a station
posts anything there, the host name is resolved and every address it names is
checked: loopback, private, link-local, multicast and reserved addresses are refused
unless the station's ``allow_private_endpoints`` setting allows them (a test bed, a
demo on one host, a private line between the ministries).  The connection then goes
to the address that was checked, with the original name as Host and TLS server name,
so a name that resolves differently a moment later (DNS rebinding) does not move it.

A channel whose peer named TLS pins is reached only over TLS with one of those keys
(``tls.py``); ``pins`` is empty for one that trusts the system's CAs.

What comes back is read up to a limit and never repeated: a refusal is reported by
its status code, because the answer body of an arbitrary server is not ours to show.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass

import httpx

from backchannel.station.core.errors import StationError
from backchannel.station.core.tls import pinned_transport

ANSWER_BYTES = 64 * 1024  # an ack is 200 bytes, a pairing answer a few hundred
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
ANSWER_SECONDS = 30.0  # the most an answer may take in all, however it trickles in
# IPv6 prefixes that carry an IPv4 address inside: NAT64 (RFC 6052) and 6to4 (RFC 3056).
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")


class EndpointRefused(StationError):
    """The counterpart's endpoint is not one this station may contact."""


class PeerRefused(StationError):
    """The counterpart's station answered, but not with what we asked for."""

    def __init__(self, status: int, reason: str = "") -> None:
        self.status = status
        super().__init__(f"the counterpart's station answered {status}" + reason)


@dataclass(frozen=True)
class Target:
    """Where a request goes: the checked address, and the name it is for."""

    url: httpx.URL
    host: str


def target(url: str, allow_private: bool) -> Target:
    """The endpoint resolved and checked; raises EndpointRefused."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise EndpointRefused("the endpoint must be an http(s) URL with a host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(parsed.host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise EndpointRefused(f"the endpoint's host {parsed.host!r} does not resolve") from None
    addresses = [str(info[4][0]) for info in found]
    for address in addresses:
        if not allow_private and not _public(address):
            raise EndpointRefused(
                f"the endpoint {parsed.host!r} is a loopback or private address ({address}); "
                "set allow_private_endpoints in station.json if that is intended"
            )
    return Target(parsed.copy_with(host=addresses[0]), parsed.host)


def post(
    client: httpx.Client, url: str, body: bytes, *, allow_private: bool, limit: int = ANSWER_BYTES
) -> httpx.Response:
    """POST ``body`` to a checked endpoint; the answer is read up to ``limit`` bytes.

    Raises EndpointRefused, PeerRefused (an answer over the limit) or httpx.HTTPError.
    The caller looks at the status code; the body of a non-200 answer is dropped.
    """
    where = target(url, allow_private)
    request = client.build_request(
        "POST",
        where.url,
        content=body,
        headers={"host": _host_header(url), "content-type": "application/octet-stream"},
        extensions={"sni_hostname": where.host},
    )
    deadline = time.monotonic() + ANSWER_SECONDS
    response = client.send(request, stream=True)
    try:
        content = bytearray()
        if response.status_code == 200:
            for chunk in response.iter_bytes():  # decoded, so a compressed bomb is capped too
                content += chunk
                if len(content) > limit:
                    raise PeerRefused(response.status_code, f" with more than {limit} bytes")
                if time.monotonic() > deadline:
                    raise PeerRefused(response.status_code, " too slowly")
        return httpx.Response(
            response.status_code, headers=response.headers, content=bytes(content), request=request
        )
    finally:
        response.close()


def post_once(
    url: str, body: bytes, *, allow_private: bool, pins: frozenset[bytes] = frozenset()
) -> bytes:
    """One POST with a client of its own (pairing); the answer if it was a 200."""
    with client_for(url, pins) as client:
        try:
            response = post(client, url, body, allow_private=allow_private)
        except httpx.HTTPError as exc:
            raise StationError(f"could not reach {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise PeerRefused(response.status_code)
    return response.content


def _public(address: str) -> bool:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0])
    if isinstance(ip, ipaddress.IPv6Address):  # an IPv4 address inside counts as itself
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
    return ip.is_global and not ip.is_multicast


def client_for(url: str, pins: frozenset[bytes]) -> httpx.Client:
    """A client for one peer: pinned if it named pins and is reached over https."""
    if pins and httpx.URL(url).scheme == "https":
        return httpx.Client(timeout=TIMEOUT, transport=pinned_transport(pins), trust_env=False)
    return httpx.Client(timeout=TIMEOUT)


class Clients:
    """One HTTP client per peer host and pins: a connection made (and its TLS
    certificate checked) for one name or pin set is never reused for another."""

    def __init__(self) -> None:
        self._by_host: dict[tuple[str, str, int | None, frozenset[bytes]], httpx.Client] = {}

    def for_url(self, url: str, pins: frozenset[bytes] = frozenset()) -> httpx.Client:
        parsed = httpx.URL(url)
        key = (parsed.scheme, parsed.host, parsed.port, pins)
        if key not in self._by_host:
            if len(self._by_host) >= 256:  # bounded: a few dozen peers in practice
                self.close()
            self._by_host[key] = client_for(url, pins)
        return self._by_host[key]

    def close(self) -> None:
        for client in self._by_host.values():
            client.close()
        self._by_host.clear()


def _host_header(url: str) -> str:
    return httpx.URL(url).netloc.decode("ascii")


def plain(text: str, limit: int = 120) -> str:
    """Peer-supplied text made safe to store, show and log: printable ASCII, bounded."""
    kept = "".join(c if c.isascii() and c.isprintable() else "?" for c in text[:limit])
    return kept + ("..." if len(text) > limit else "")
