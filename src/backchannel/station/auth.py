"""Who is asking: sessions (cookie) or API tokens (bearer), CSRF, sign-in throttling.

A browser holds one cookie, ``bc_session``: HttpOnly, SameSite=Strict, Secure over
TLS, a fresh random value at every sign-in (so a planted value is never adopted).
Every state-changing request made with that cookie must carry the session's CSRF
token (form field ``csrf`` or header ``X-CSRF-Token``).  Scripts use
``Authorization: Bearer <token>`` instead and need no CSRF token.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from .desk import Desk
from .errors import Forbidden, NotSignedIn, TooManyAttempts
from .policy import Officer
from .service import Station

SESSION_COOKIE = "bc_session"
LOGIN_COOKIE = "bc_login"  # double-submit token for the sign-in form itself
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
POLL_HEADER = "x-backchannel-poll"  # sent by app.js: background refresh, not activity
THROTTLE_FAILURES, THROTTLE_WINDOW = 20, 600.0  # per client address


@dataclass(frozen=True)
class Caller:
    officer: Officer
    csrf: str | None  # None when signed in by API token
    origin: str  # client address and interface, for the audit trail


def station_of(request: Request) -> Station:
    station: Station = request.app.state.station
    return station


async def desk_of(request: Request) -> Desk:
    """Async, so that FastAPI does not spend a thread hop on a dictionary lookup."""
    desk: Desk = request.app.state.desk
    return desk


def origin_of(request: Request, via: str) -> str:
    host = request.client.host if request.client else "unknown"
    return f"{host} {via}"


def caller(request: Request) -> Caller:
    """The signed-in officer, or NotSignedIn (may query the database)."""
    station = station_of(request)
    token = _bearer(request)
    if token is not None:
        return _token_caller(request, station.accounts.by_token(token))
    token = request.cookies.get(SESSION_COOKIE)
    polling = request.headers.get(POLL_HEADER) is not None
    found = station.accounts.session(token, touch=not polling) if token else None
    if found is None:
        raise NotSignedIn("sign in first")
    officer, csrf = found
    via = "api" if request.url.path.startswith("/api/") else "web"
    return Caller(officer, csrf, origin_of(request, via))


def _bearer(request: Request) -> str | None:
    bearer = request.headers.get("authorization", "")
    return bearer[7:].strip() if bearer.lower().startswith("bearer ") else None


def _token_caller(request: Request, officer: Officer | None) -> Caller:
    if officer is None:
        raise NotSignedIn("the API token is not valid")
    return Caller(officer, None, origin_of(request, "api"))


def _cached_caller(request: Request) -> Caller | None:
    """The caller of a request whose API token was looked up recently, else None.

    Scripts send many requests with one token: answering those here, on the event
    loop, saves each request a hop to a worker thread.
    """
    token = _bearer(request)
    if token is None:
        return None
    known, officer = station_of(request).accounts.cached_token(token)
    return _token_caller(request, officer) if known else None


async def csrf_checked(request: Request) -> Caller:
    """The signed-in officer, or NotSignedIn; CSRF-checked for state changes."""
    who = _cached_caller(request)
    if who is None:
        who = await run_in_threadpool(caller, request)
    if request.method not in SAFE_METHODS and who.csrf is not None:
        sent = request.headers.get("x-csrf-token")
        if sent is None and _is_form(request):
            sent = str((await request.form()).get("csrf", ""))
        if not sent or not same_secret(sent, who.csrf):
            raise Forbidden("missing or wrong CSRF token; reload the page and try again")
    return who


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison that also takes any text a client sends (as UTF-8)."""
    return secrets.compare_digest(given.encode(), expected.encode())


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "")
    return kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


CallerDep = Annotated[Caller, Depends(csrf_checked)]
DeskDep = Annotated[Desk, Depends(desk_of)]


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/",
    )  # fmt: skip


class Throttle:
    """Refuses sign-in attempts from an address after too many recent failures."""

    def __init__(self, limit: int = THROTTLE_FAILURES, window: float = THROTTLE_WINDOW) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        with self._lock:
            recent = self._recent(address)
            if len(recent) >= self.limit:
                raise TooManyAttempts("too many failed sign-ins from this address; wait a while")

    def failed(self, address: str) -> None:
        with self._lock:
            self._recent(address).append(time.monotonic())

    def _recent(self, address: str) -> deque[float]:
        recent = self._failures.setdefault(address, deque(maxlen=self.limit))
        while recent and recent[0] < time.monotonic() - self.window:
            recent.popleft()
        if not recent and len(self._failures) > 10_000:  # bounded memory
            self._failures.clear()
            recent = self._failures.setdefault(address, deque(maxlen=self.limit))
        return recent
