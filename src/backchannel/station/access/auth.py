"""Who is asking: sessions (cookie) or API tokens (bearer), CSRF, sign-in throttling.

A browser holds one cookie, ``bc_session`` (``__Host-bc_session`` over TLS, which
browsers accept only with Secure, Path=/ and no Domain): HttpOnly, SameSite=Strict,
a fresh random value at every sign-in (so a planted value is never adopted).
Every state-changing request made with that cookie must carry the session's CSRF
token (form field ``csrf`` or header ``X-CSRF-Token``).  Scripts use
``Authorization: Bearer <token>`` instead and need no CSRF token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from backchannel.station.access.door import Door
from backchannel.station.access.officers import Accounts
from backchannel.station.access.policy import Officer
from backchannel.station.access.times import showing_zone
from backchannel.station.core.errors import Forbidden, NotSignedIn
from backchannel.station.core.ledger import Ledger

SESSION_COOKIE = "bc_session"
LOGIN_COOKIE = "bc_login"  # double-submit token for the sign-in form itself
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
POLL_HEADER = "x-backchannel-poll"  # sent by app.js: background refresh, not activity
LIVE_PATH = "/events"  # the live feed (web/live.py): background, too
THROTTLE_FAILURES, THROTTLE_WINDOW = 20, 600.0  # per client address


@dataclass(frozen=True)
class Caller:
    officer: Officer
    csrf: str | None  # None when signed in by API token
    origin: str  # client address and interface, for the audit trail


def station_of(request: Request) -> Ledger:
    station: Ledger = request.app.state.station
    return station


def accounts_of(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


async def door_of(request: Request) -> Door:
    """Async, so that FastAPI does not spend a thread hop on a dictionary lookup."""
    door: Door = request.app.state.door
    return door


def origin_of(request: Request, via: str) -> str:
    host = request.client.host if request.client else "unknown"
    return f"{host} {via}"


def caller(request: Request) -> Caller:
    """The signed-in officer, or NotSignedIn (may query the database)."""
    accounts = accounts_of(request)
    token = _bearer(request)
    if token is not None:
        return _token_caller(request, accounts.by_token(token))
    token = request.cookies.get(session_cookie(request))
    # Background refreshes (the live feed, its polling fallback) are not activity: they
    # must not keep an idle session alive.
    polling = request.headers.get(POLL_HEADER) is not None or request.url.path == LIVE_PATH
    found = accounts.session(token, touch=not polling) if token else None
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
    known, officer = accounts_of(request).cached_token(token)
    return _token_caller(request, officer) if known else None


async def identify(request: Request) -> Caller:
    """The signed-in officer (looked up once per request), or NotSignedIn."""
    known: Caller | None = getattr(request.state, "caller", None)
    if known is not None:
        return known
    found = _cached_caller(request)
    if found is None:
        found = await run_in_threadpool(caller, request)
    request.state.caller = found
    showing_zone(found.officer.time_zone)  # this request's times, in the officer's zone
    return found


async def csrf_checked(request: Request) -> Caller:
    """The signed-in officer, or NotSignedIn; CSRF-checked for state changes."""
    who = await identify(request)
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

# Paths anyone may reach: every other one is an officer's, and answers nothing,
# reads no byte of its body, until the caller is known.
OPEN_PATHS = frozenset({"/", "/login", "/health", "/favicon.ico", "/openapi.json"})
OPEN_PREFIXES = ("/peer/", "/static/", "/.well-known/")


NEXT_COOKIE = "bc_next"  # the page asked for before signing in (this station's own path)
MAX_NEXT = 1024


def next_page(request: Request) -> str:
    """Where signing in goes on: the page that was asked for, if it is one of ours."""
    asked = request.cookies.get(NEXT_COOKIE, "")
    own = asked.startswith("/") and not asked.startswith(("//", "/\\", "/login", "/logout"))
    return asked if own and len(asked) <= MAX_NEXT and "\\" not in asked else "/channels"


def remember_page(request: Request, response: Response) -> None:
    """Keep the page asked for (path and query) for signing in to go on to."""
    asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response.set_cookie(
        NEXT_COOKIE, asked[:MAX_NEXT], max_age=900, path="/login", httponly=True,
        samesite="strict", secure=over_tls(request),
    )  # fmt: skip


class SignInFirst:
    """Authenticates officer routes before any body is read or parsed.

    FastAPI reads and parses a JSON or form body before it runs the dependencies
    that check the session, so without this an anonymous client could make the
    station parse megabytes it would then refuse.  The caller found here is kept in
    the request's state for ``csrf_checked``: one lookup per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" else "/"
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope)  # no receive: nothing here can touch the body
        try:
            if _bearer(request) is None and session_cookie(request) not in request.cookies:
                raise NotSignedIn("sign in first")  # no credential: no thread, no database
            await identify(request)
        except NotSignedIn as exc:
            polling = request.headers.get(POLL_HEADER) is not None
            if path.startswith("/api/") or polling:
                refusal: Response = JSONResponse({"error": str(exc)}, status_code=401)
            else:
                refusal = RedirectResponse("/login", status_code=303)
                if request.method == "GET":  # signing in comes back here
                    remember_page(request, refusal)
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)


DoorDep = Annotated[Door, Depends(door_of)]


def over_tls(request: Request) -> bool:
    """Whether the browser reached us over TLS (directly, or through a trusted proxy)."""
    return request.url.scheme == "https"


def session_cookie(request: Request) -> str:
    return "__Host-" + SESSION_COOKIE if over_tls(request) else SESSION_COOKIE


def login_cookie(request: Request) -> str:
    return "__Secure-" + LOGIN_COOKIE if over_tls(request) else LOGIN_COOKIE


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        session_cookie(request),
        token,
        httponly=True,
        samesite="strict",
        secure=over_tls(request),
        path="/",
    )
