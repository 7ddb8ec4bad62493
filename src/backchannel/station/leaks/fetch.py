"""Fetching a published page by URL: bounded in size, time and redirects, public hosts only.

Only http and https.  Every hop's host is resolved first and refused when any of its
addresses is loopback, private, link-local, multicast, reserved or unspecified —
unless the station allows private sources (``allow_private_sources``: a test bed, an
intranet mirror).  Redirects are followed by hand, at most ``MAX_REDIRECTS``, each
checked the same way.  The body is read in pieces and cut at ``MAX_PAGE_BYTES``; the
whole fetch has ``FETCH_SECONDS``, however slowly the server sends.

Left open: a host whose name resolves differently between our check and httpx's own
look-up (DNS rebinding) is not caught; ``docs/leaks.md`` says so.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from urllib.parse import urljoin, urlsplit

import httpx

from backchannel.analysis.leaks.page import MAX_PAGE_BYTES, PageError

MAX_REDIRECTS = 5
FETCH_SECONDS = 15.0
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def fetch(url: str, allow_private: bool = False, seconds: float = FETCH_SECONDS) -> bytes:
    """The body of the page at ``url``, or PageError saying in one line why not."""
    deadline = time.monotonic() + seconds
    timeout = httpx.Timeout(min(seconds, 10.0), connect=min(seconds, 5.0))
    with httpx.Client(follow_redirects=False, timeout=timeout, trust_env=False) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            _check(url, allow_private)
            try:
                with client.stream("GET", url, headers={"Accept": "text/html, text/plain"}) as r:
                    if r.status_code in _REDIRECTS and "location" in r.headers:
                        url = urljoin(url, r.headers["location"])
                        continue
                    if r.status_code != 200:
                        raise PageError(f"the server answered {r.status_code}")
                    _check_type(r.headers.get("content-type", ""))
                    return _body(r, deadline)
            except httpx.TimeoutException:
                raise PageError("the server did not answer in time") from None
            except httpx.HTTPError as exc:
                raise PageError(f"the page could not be fetched ({type(exc).__name__})") from None
    raise PageError(f"more than {MAX_REDIRECTS} redirects")


def _check(url: str, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PageError("give an http or https URL")
    if allow_private:
        return
    try:
        found = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise PageError("the host's name does not resolve") from None
    for *_rest, address in found:
        ip = ipaddress.ip_address(address[0])
        if not ip.is_global or ip.is_multicast:
            raise PageError("the URL points at a private or loopback address; not fetched")


def _check_type(content_type: str) -> None:
    kind = content_type.split(";", maxsplit=1)[0].strip().lower()
    if kind and not (kind.startswith("text/") or kind in ("application/xhtml+xml",)):
        raise PageError(f"the page is {kind}, not text or HTML")


def _body(response: httpx.Response, deadline: float) -> bytes:
    data = bytearray()
    for piece in response.iter_bytes():
        data += piece
        if len(data) > MAX_PAGE_BYTES:
            raise PageError(f"the page is larger than {MAX_PAGE_BYTES // (1024 * 1024)} MiB")
        if time.monotonic() > deadline:
            raise PageError("the page took too long to arrive")
    return bytes(data)
