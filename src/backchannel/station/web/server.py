"""How ``serve`` runs the app: uvicorn, with limits that a hostile client cannot outwait.

uvicorn times out only idle keep-alive connections; a client that sends its headers
one line every few seconds, or never sends anything, holds a socket (and a file
descriptor) for as long as it likes.  ``GuardedProtocol`` is uvicorn's own httptools
protocol with four more rules:

- the request line and headers must arrive within ``header_seconds`` and within
  ``header_bytes`` (431 otherwise);
- a body must arrive within ``body_seconds`` once the headers are in;
- at most ``per_address`` connections from one client address (trusted proxies
  excepted): one beyond it is closed at once;
- at most ``max_connections`` in all: when they are all taken, the connection that
  has waited longest for its headers is closed to make room, so sockets held open by
  slow clients (from however many addresses) never keep out one that is served;
- a keep-alive connection serves at most ``requests_per_connection`` requests;
- an answer given before the request's body has arrived (401, 403, 413, 429) closes
  the connection and says so in ``connection: close``.

The file-descriptor limit is raised to its hard limit at start, and the total cap
stays below it, so ``accept`` never fails for lack of descriptors.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("backchannel.server")
DESCRIPTORS_KEPT = 128  # for the database, log files, outgoing HTTP and the listener


@dataclass
class ConnectionLimits:
    max_connections: int = 1000
    per_address: int = 64
    header_seconds: float = 10.0
    header_bytes: int = 32 * 1024
    body_seconds: float = 30.0
    idle_seconds: int = 5
    requests_per_connection: int = 1000
    exempt: frozenset[str] = frozenset()  # addresses not capped per address (proxies)
    open: Counter[str] = field(default_factory=Counter)  # live connections per address
    # Connections waiting for their headers, oldest first (dicts keep insertion order).
    waiting: dict[asyncio.BaseTransport, None] = field(default_factory=dict)

    def admit(self, address: str) -> bool:
        if address not in self.exempt and self.open[address] >= self.per_address:
            return False
        if sum(self.open.values()) >= self.max_connections:
            if not self.waiting:
                return False
            oldest = next(iter(self.waiting))
            del self.waiting[oldest]
            oldest.close()  # its connection_lost frees its place in ``open``
        self.open[address] += 1
        return True

    def leave(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body deadlines and connection caps."""

    limits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._address = ""
        self._admitted = False
        self._deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0
        self._in_headers = True
        self._served = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._address = self.client[0] if self.client else ""
        self._admitted = self.limits.admit(self._address)
        if not self._admitted:
            transport.close()
            return
        self._expect_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        self.limits.waiting.pop(self.transport, None)
        if self._admitted:
            self._admitted = False
            self.limits.leave(self._address)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._admitted or self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and cycle.response_complete and cycle.more_body:
            self.transport.close()  # answered before its body was read: drop the rest
            return
        idle = cycle is None or cycle.response_complete
        if idle and not self._in_headers:  # a new request on a kept-alive connection
            self._expect_headers()
        super().data_received(data)
        if self._in_headers and not self.transport.is_closing():  # still no end of headers
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.header_bytes:
                self._refuse(b"431 Request Header Fields Too Large")

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._cancel_deadline()
        self.limits.waiting.pop(self.transport, None)
        self._served += 1
        super().on_headers_complete()
        if self._served >= self.limits.requests_per_connection and self.cycle is not None:
            self.cycle.keep_alive = False
        if self.cycle is not None and self.cycle.more_body:
            self._deadline = self.loop.call_later(self.limits.body_seconds, self._too_slow)
            self._close_if_answered_early(self.cycle)

    @staticmethod
    def _close_if_answered_early(cycle: Any) -> None:
        """An answer that starts before the request's body is in says ``connection: close``.

        ``data_received`` hangs up on the rest of such a body, so the client must not
        keep the connection for its next request (it would find it closed under it)."""
        send = cycle.send

        async def send_then_close(message: Any) -> None:
            if message["type"] == "http.response.start" and cycle.more_body:
                cycle.keep_alive = False  # uvicorn then adds the header and closes
            await send(message)

        cycle.send = send_then_close

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        super().on_message_complete()

    def _expect_headers(self) -> None:
        self._in_headers, self._header_bytes = True, 0
        self._cancel_deadline()
        self._deadline = self.loop.call_later(self.limits.header_seconds, self._too_slow)
        self.limits.waiting[self.transport] = None

    def _too_slow(self) -> None:
        """A deadline passed: the request (or its body) did not arrive in time."""
        self._deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app sees a disconnect, not a hang
            self.cycle.message_event.set()
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, status: bytes) -> None:
        self.transport.write(
            b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        self.transport.close()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None


def raise_descriptor_limit() -> int:
    """Raise the soft limit on open files to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            log.warning("could not raise the open-file limit above %d", soft)
    return soft


GRACEFUL_SECONDS = 3


@dataclass(frozen=True)
class Listen:
    host: str
    port: int
    tls_cert: Path | None = None
    tls_key: Path | None = None
    trusted_proxies: tuple[str, ...] = ()


def serve(app: Any, where: Listen, limits: ConnectionLimits | None = None) -> None:
    """Run ``app`` until stopped, behind the connection limits."""
    limits = limits or ConnectionLimits()
    descriptors = raise_descriptor_limit()
    limits.max_connections = min(limits.max_connections, descriptors - DESCRIPTORS_KEPT)
    limits.exempt = frozenset(where.trusted_proxies)
    GuardedProtocol.limits = limits
    proxied = bool(where.trusted_proxies)
    config = uvicorn.Config(
        app,
        host=where.host,
        port=where.port,
        log_level="warning",
        http=GuardedProtocol,
        ssl_certfile=where.tls_cert,
        ssl_keyfile=where.tls_key,
        # Forwarded headers are believed only from the listed proxies, never by default.
        proxy_headers=proxied,
        forwarded_allow_ips=list(where.trusted_proxies) or None,
        # No limit_concurrency: it would answer 503 to every request once the table is
        # full; GuardedProtocol makes room instead.
        server_header=False,
        timeout_keep_alive=limits.idle_seconds,
        # Live feeds (web/live.py) stay open: a stop waits this long for them, no more.
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        access_log=False,
    )
    uvicorn.Server(config).run()
