"""What one request may make the station hold: a capped body, within a shared budget.

(Two budgets, in fact: one for what peers post, one for everything else, so that
bodies posted to the peer routes, which answer anyone, can never crowd out officers.)

Every request body is capped before it is read: by its declared Content-Length at
once (nothing is read), and again while it streams in (a body sent without a length,
or longer than it said).  The cap depends on the route: a peer's batch may be 4 MiB,
a sign-in form 16 KiB, an officer's request 1 MiB, anything else 64 KiB.  All bodies
being read at one moment share one budget (``IN_FLIGHT_BYTES``); a request that would
take it past the budget is answered 503 at once, so many large bodies at the same
time cannot exhaust the memory either.  Pure ASGI: no task per request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backchannel.protocol.wire import MAX_ENVELOPE_BYTES
from backchannel.station.core.batches import MAX_BATCH_BYTES

KIB, MIB = 1024, 1024 * 1024
IN_FLIGHT_BYTES = 32 * MIB  # for each of the two budgets
PAIRING_BYTES = 64 * KIB  # an acceptance is a few KiB
WITNESS_QUERY_BYTES = 2 * KIB  # a query is one bucket of 1 KiB
CHUNK_BODY_BYTES = MIB + KIB  # a sealed chunk of a file (1 MiB, 31 bytes) and its header
# (method or "*", path prefix, cap): the first match wins.
BODY_CAPS: tuple[tuple[str, str, int], ...] = (
    ("POST", "/peer/v1/envelopes", MAX_BATCH_BYTES),
    ("POST", "/peer/v1/envelope", MAX_ENVELOPE_BYTES),
    ("POST", "/peer/v1/pair", PAIRING_BYTES),
    ("POST", "/peer/v1/heads", KIB),
    ("POST", "/peer/v1/witnessed", WITNESS_QUERY_BYTES),
    ("POST", "/peer/v1/chunk", CHUNK_BODY_BYTES),
    ("POST", "/login", 16 * KIB),
    ("GET", "", 0),
    ("HEAD", "", 0),
    ("POST", "/api/v1/leaks/scan", 6 * MIB),  # a page of 4 MiB, as a JSON string
    ("*", "/api/", MIB),
    ("POST", "/channels/", MIB),  # compose, releases, proposals: forms of officers' text
    ("POST", "/canary", 4 * MIB),  # a leaked page's source, form-encoded (its field: 1 MiB)
    ("POST", "/leaks/violations/", MIB),  # a note or a finding, officers' text
    ("POST", "/leaks", 4 * MIB),  # a published page's source, the same
    ("POST", "/drafts/", MIB),  # a form left unsent: a message's text at most
    ("*", "", 64 * KIB),
)


class BodyTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(413, "the request body is too large")


class PeerTooCostly(HTTPException):
    def __init__(self) -> None:
        super().__init__(429, "too many refused or repeated requests from this address; slow down")


class ServerBusy(HTTPException):
    def __init__(self) -> None:
        super().__init__(503, "the station is busy; try again in a moment")


def body_cap(method: str, path: str) -> int:
    for wanted, prefix, cap in BODY_CAPS:
        if wanted in ("*", method) and path.startswith(prefix):
            return cap
    raise AssertionError("unreachable: the last rule matches everything")


@dataclass
class Budget:
    """Bytes of request bodies being held now, across all requests."""

    limit: int = IN_FLIGHT_BYTES
    used: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if self.used + n > self.limit:
                return False
            self.used += n
            return True

    def give(self, n: int) -> None:
        with self._lock:
            self.used -= n


class BodyLimits:
    """Caps each request body by route, and all of them together by ``Budget``.

    ``refused(path)`` is told of every body refused here (the station counts those a
    peer sent).
    """

    def __init__(self, app: ASGIApp, refused: Callable[[str], None] = lambda _path: None) -> None:
        self.app, self.refused = app, refused
        self.peers, self.others = Budget(), Budget()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = body_cap(scope["method"], scope["path"])
        declared = _declared_length(scope)
        if declared is None or declared > cap:
            self.refused(scope["path"])
            status, reason = (
                (400, "the Content-Length header is not a number")
                if declared is None
                else (413, "the request body is too large")
            )
            await _refuse(scope, receive, send, status, reason)
            return
        held = 0
        budget = self.peers if scope["path"].startswith("/peer/") else self.others

        async def capped() -> Message:
            nonlocal held
            message = await receive()
            if message["type"] == "http.request":
                size = len(message.get("body", b""))
                if held + size > cap:
                    raise BodyTooLarge
                if not budget.take(size):
                    raise ServerBusy
                held += size
            return message

        try:
            await self.app(scope, capped, send)
        finally:
            budget.give(held)


def _declared_length(scope: Scope) -> int | None:
    """The declared body length, 0 if none is declared, None if it is not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() and len(value) <= 18 else None
    return 0


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, reason: str) -> None:
    response = JSONResponse({"error": reason}, status_code=status, headers={"connection": "close"})
    await response(scope, receive, send)
