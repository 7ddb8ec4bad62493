"""The station's web app: the peer endpoint, the officer API, the web UI, health.

The peer endpoint takes raw envelopes (capped before they are read in full) and
answers with the ack only after the station committed the envelope.  Bad input gets
a 4xx with a one-line reason, never a 5xx, and is counted in the channel's status.
Envelopes authenticate themselves; everything for officers needs a session or an
API token (``auth.py``).  Every response carries a strict Content-Security-Policy.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic.fields import FieldInfo
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backchannel.protocol import RemoteProtocolError
from backchannel.protocol.heads import MAX_HEADS_BYTES
from backchannel.protocol.release import keys_document
from backchannel.protocol.wire import MAX_ENVELOPE_BYTES
from backchannel.station.access.auth import POLL_HEADER, Caller, SignInFirst, caller
from backchannel.station.access.door import Door
from backchannel.station.attachments.api import router as attachments_api
from backchannel.station.attachments.desk import AttachmentDesk
from backchannel.station.attachments.service import CHUNK_PATH
from backchannel.station.attachments.transfer import ChunkPusher
from backchannel.station.canary.desk import CanaryDesk
from backchannel.station.canary.web import router as canary_pages
from backchannel.station.core.batches import MAX_BATCH_BYTES, decode_batch
from backchannel.station.core.delivery import DeliveryWorker
from backchannel.station.core.errors import (
    Busy,
    ChannelClosed,
    ChannelNotFound,
    Forbidden,
    InvalidRequest,
    NotSignedIn,
    StationError,
    TooManyAttempts,
)
from backchannel.station.core.peer_budget import CostBuckets
from backchannel.station.core.peer_http import plain
from backchannel.station.core.watch import DeadlineWatch
from backchannel.station.core.witnessed import WITNESS_PATH
from backchannel.station.incidents.desk import IncidentDesk
from backchannel.station.incidents.web import router as incidents_pages
from backchannel.station.languages.api import router as languages_api
from backchannel.station.languages.desk import GlossaryDesk
from backchannel.station.languages.web import router as languages_pages
from backchannel.station.leaks.api import router as leaks_api
from backchannel.station.leaks.desk import LeakDesk
from backchannel.station.leaks.indexer import IndexWatch
from backchannel.station.leaks.web import router as leaks_pages
from backchannel.station.negotiation.api import router as negotiation_api
from backchannel.station.negotiation.desk import NegotiationDesk
from backchannel.station.negotiation.web import router as negotiation_pages
from backchannel.station.releases.api import router as releases_api
from backchannel.station.releases.desk import ReleaseDesk
from backchannel.station.releases.web import router as releases_pages
from backchannel.station.retention.api import router as retention_api
from backchannel.station.retention.desk import RetentionDesk
from backchannel.station.retention.web import router as retention_pages
from backchannel.station.service import Receipt, Station
from backchannel.station.web.api import router as api_router
from backchannel.station.web.limits import (
    CHUNK_BODY_BYTES,
    PAIRING_BYTES,
    WITNESS_QUERY_BYTES,
    BodyLimits,
    BodyTooLarge,
    PeerTooCostly,
)
from backchannel.station.web.live import router as live_router
from backchannel.station.web.pages import HERE, page
from backchannel.station.web.pages import router as web_router
from backchannel.station.web.params import refusal
from backchannel.station.web.settings import router as settings_router

T = TypeVar("T")
ERROR_STATUS: dict[type[StationError], int] = {
    ChannelNotFound: 404, InvalidRequest: 422, NotSignedIn: 401, Forbidden: 403,
    TooManyAttempts: 429, Busy: 503, ChannelClosed: 409,
}  # fmt: skip
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP, "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer", "x-frame-options": "DENY",
}  # fmt: skip
HEADERS = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
HEADERS_NO_STORE = [*HEADERS, (b"cache-control", b"no-store")]
# Over TLS (directly or through a trusted proxy): browsers come back over TLS only.
HSTS = (b"strict-transport-security", b"max-age=31536000")


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, refusing it as soon as it passes ``limit`` bytes.

    ``BodyLimits`` caps every body by its route already; this is the peer routes'
    own, exact limit, checked as the bytes arrive.
    """
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


class SecurityHeaders:
    """Adds the CSP and friends to every response (plain ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = HEADERS if scope["path"].startswith("/static/") else HEADERS_NO_STORE
        if scope.get("scheme") == "https":
            extra = [*extra, HSTS]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def settle_heap() -> None:
    """Keep the objects built at start-up out of the garbage collector's full passes.

    Modules, routes, schemas and mappers live as long as the process, yet a full
    collection walks all of them: 50-90 ms with the GIL held, during which every
    request in flight waits.  Frozen, they are skipped and a full pass takes a few ms
    (measured in docs/benchmarks.md).  Garbage is collected first so none is frozen.
    """
    gc.collect()
    gc.freeze()


def create_app(station: Station, deliver: bool = True) -> FastAPI:
    workers: list[DeliveryWorker | DeadlineWatch | IndexWatch | ChunkPusher] = (
        [
            DeliveryWorker(station),
            DeadlineWatch(station),
            IndexWatch(station.leaks.keep_up),
            ChunkPusher(station),
        ]
        if deliver
        else []
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for worker in workers:
            worker.start()
        settle_heap()
        yield
        gc.unfreeze()
        for worker in workers:
            worker.stop()

    # The interactive docs load scripts from a CDN, which the CSP forbids: the schema
    # stays at /openapi.json.
    # No redirect to the same path with a slash: it would be built from the Host header.
    app = FastAPI(
        title="backchannel station",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    station.accounts.warm_up()
    door = Door(station)
    app.state.station, app.state.accounts, app.state.door = station, station.accounts, door
    app.state.release_desk = ReleaseDesk(door, station.releases)
    app.state.negotiation_desk = NegotiationDesk(door, station.negotiation)
    app.state.canary_desk = CanaryDesk(door, station.canary)
    app.state.leak_desk = LeakDesk(door, station.leaks)
    app.state.incident_desk = IncidentDesk(door, station.incidents)
    app.state.glossary_desk = GlossaryDesk(door, station.glossary)
    app.state.attachment_desk = AttachmentDesk(door, station.attachments)
    app.state.retention_desk = RetentionDesk(door, station.retention)
    routers = (api_router, releases_api, negotiation_api, leaks_api, web_router, live_router,
               settings_router, releases_pages, negotiation_pages, canary_pages, leaks_pages,
               incidents_pages, attachments_api, retention_api, languages_api,
               languages_pages, retention_pages)  # fmt: skip
    for router in routers:
        # The routes as each router built them (its prefix and responses are in them):
        # include_router would build every one a second time, at the first request.
        app.router.routes.extend(router.routes)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    _add_handlers(app, station)

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)  # no icon; say so without an error in consoles

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/.well-known/backchannel/keys")
    def keys() -> Response:
        """Our public keys, for anyone who wants to pin them before checking a release."""
        return Response(keys_document(station.public_identity()), media_type="application/json")

    _add_peer_routes(app, station)
    return app


def _add_peer_routes(app: FastAPI, station: Station) -> None:
    """What the counterpart's station posts: envelopes, heads, its acceptance.

    Every one of them is refused at once (429) for a source that has spent its budget
    of refused and repeated requests (peer_budget.py), before its body is read.
    """
    costs = CostBuckets()

    def decoded(data: bytes) -> list[bytes]:
        try:
            return decode_batch(data)
        except RemoteProtocolError:
            station.count_refused(None)  # no channel to count it against yet
            raise

    async def within_budget(
        request: Request, limit: int, work: Callable[[bytes], T], counts_itself: bool = False
    ) -> T:
        """Run ``work`` on the body within the source's budget; count what is refused.

        ``counts_itself``: the station counts what ``work`` refuses (receive_batch).
        """
        source = request.client.host if request.client else "unknown"
        if not costs.allows(source) or not costs.enter(source):
            raise PeerTooCostly
        try:
            data = await read_capped(request, limit)
            result = await run_in_threadpool(work, data)
        except ClientDisconnect:  # hung up, or too slow with its body: it cost us waiting
            costs.charge(source)
            raise
        except (RemoteProtocolError, BodyTooLarge) as exc:
            if isinstance(exc, BodyTooLarge) or not counts_itself:
                station.count_refused(None)  # in memory: no write per refusal
            costs.charge(source)
            raise
        finally:
            costs.leave(source)
        if isinstance(result, Receipt) and (result.repeated or result.refused):
            costs.charge(source)
        return result

    @app.post("/peer/v1/envelope")
    async def envelope(request: Request) -> Response:
        receipt = await within_budget(
            request, MAX_ENVELOPE_BYTES, lambda d: station.receive_batch([d]), counts_itself=True
        )
        return Response(receipt.ack, media_type="application/octet-stream")

    @app.post("/peer/v1/envelopes")
    async def envelopes(request: Request) -> Response:
        """Several envelopes of one channel, in order, committed together (see batches.py)."""
        receipt = await within_budget(
            request,
            MAX_BATCH_BYTES,
            lambda d: station.receive_batch(decoded(d)),
            counts_itself=True,
        )
        # The reason may quote peer-supplied text: keep the header plain ASCII.
        headers = {"x-refused": plain(receipt.refused, 200)} if receipt.refused else {}
        return Response(receipt.ack, media_type="application/octet-stream", headers=headers)

    @app.post("/peer/v1/heads")
    async def heads(request: Request) -> Response:
        """A peer compares heads with us (a probe: our heads back), or stops (a notice)."""
        answer = await within_budget(request, MAX_HEADS_BYTES, station.heads.take)
        if answer is None:
            return Response(status_code=204)
        return Response(answer, media_type="application/octet-stream")

    @app.post(WITNESS_PATH)
    async def witnessed(request: Request) -> Response:
        """A peer asks for the heads of its audit trail we keep (witnessed.py)."""
        answer = await within_budget(request, WITNESS_QUERY_BYTES, station.witnessing.answer)
        return Response(answer, media_type="application/octet-stream")

    @app.post(CHUNK_PATH)
    async def chunk(request: Request) -> Response:
        """One chunk of a file the peer sends (attachments/service.py): opened under its
        attachment's key before it is kept; the answer is how many chunks are here."""
        answer = await within_budget(request, CHUNK_BODY_BYTES, station.attachments.take_chunk)
        return Response(answer, media_type="application/octet-stream")

    @app.post("/peer/v1/pair")
    async def pair(request: Request) -> dict[str, str]:
        status = await within_budget(request, PAIRING_BYTES, station.accept_pairing)
        return {"channel_id": status.channel_id, "station": station.config.station}


def _add_handlers(app: FastAPI, station: Station) -> None:
    """Security headers on every response, and errors mapped to statuses and pages."""

    # The last added is the outermost: headers on every answer, then the body caps,
    # then the sign-in, all before a route reads a byte of the body.
    def body_refused(path: str) -> None:
        if path.startswith("/peer/"):
            station.count_refused(None)

    app.add_middleware(SignInFirst)
    app.add_middleware(BodyLimits, refused=body_refused)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(BodyTooLarge)
    async def too_large(_request: Request, exc: BodyTooLarge) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=413)  # counted where raised

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        """Starlette's own refusals (404, 405, a body it could not parse) as one line."""
        reason = exc.detail if isinstance(exc.detail, str) else "refused"
        if exc.status_code == 400 and request.url.path.startswith("/api/"):
            # FastAPI's "error parsing the body" (not UTF-8, say): a body that is not
            # acceptable is a 422 like any other, as the schema says.
            return JSONResponse({"error": "request: the body is not JSON in UTF-8"}, 422)
        if request.url.path.startswith(("/api/", "/peer/")) or exc.status_code == 405:
            return JSONResponse({"error": reason}, exc.status_code, headers=exc.headers)
        return page(request, "error.html", exc.status_code, error=reason, code=exc.status_code)

    @app.exception_handler(ClientDisconnect)
    async def gone(_request: Request, _exc: ClientDisconnect) -> Response:
        return Response(status_code=400)  # nobody reads it; nothing worth a log line

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        """One line naming the first bad field; never the submitted value back."""
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
        reason = f"{where}: {first.get('msg', 'invalid')}"[:300]
        if request.url.path.startswith(("/api/", "/peer/")):
            return JSONResponse({"error": reason}, status_code=422)
        words = refusal(first, fields_of(request))
        return page(request, "error.html", 422, error=words, code=422, who=await _who(request))

    @app.exception_handler(RemoteProtocolError)
    async def refused(_request: Request, exc: RemoteProtocolError) -> JSONResponse:
        return JSONResponse({"error": plain(str(exc), 200)}, status_code=400)

    @app.exception_handler(StationError)
    async def station_error(request: Request, exc: StationError) -> Response:
        status = ERROR_STATUS.get(type(exc), 409)
        background = request.headers.get(POLL_HEADER) is not None
        if request.url.path.startswith(("/api/", "/peer/")) or background:
            return JSONResponse({"error": " ".join(str(exc).split())[:300]}, status_code=status)
        if isinstance(exc, NotSignedIn):
            return RedirectResponse("/login", status_code=303)
        who = await _who(request)
        return page(request, "error.html", status, error=str(exc), code=status, who=who)


async def _who(request: Request) -> Caller | None:
    """Who is signed in, for an error page: navigation and Sign out stay on it."""
    try:
        return await run_in_threadpool(caller, request)
    except StationError:
        return None


def fields_of(request: Request) -> dict[str, FieldInfo]:
    """The query, path and form fields of the route asked for, by name."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return {}
    fields: dict[str, FieldInfo] = {}
    dependants = [route.dependant]
    while dependants:
        d = dependants.pop()
        for f in (*d.query_params, *d.path_params, *d.body_params):
            fields.setdefault(f.alias, f.field_info)
        dependants += d.dependencies
    return fields
