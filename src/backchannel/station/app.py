"""The station's web app: the peer endpoint, the officer API and a health check.

The peer endpoint takes raw envelopes (capped before they are read in full) and
answers with the ack only after the station committed the envelope.  Bad input gets
a 4xx with a one-line reason, never a 5xx, and is counted in the channel's status.
Officer authentication arrives with the officers issue; until then the server
refuses to listen anywhere but on the loopback interface.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from backchannel.protocol import RemoteProtocolError
from backchannel.protocol.wire import MAX_ENVELOPE_BYTES

from .api import router as api_router
from .batches import MAX_BATCH_BYTES, decode_batch
from .delivery import DeliveryWorker
from .errors import ChannelNotFound, InvalidRequest, StationError
from .service import Station

T = TypeVar("T")


class BodyTooLarge(Exception):
    pass


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, refusing it as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge
    return bytes(body)


def create_app(station: Station, deliver: bool = True) -> FastAPI:
    worker = DeliveryWorker(station) if deliver else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if worker is not None:
            worker.start()
        yield
        if worker is not None:
            worker.stop()

    app = FastAPI(title="backchannel station", version="1", lifespan=lifespan)
    app.state.station = station
    app.include_router(api_router)

    @app.exception_handler(BodyTooLarge)
    async def too_large(_request: Request, _exc: BodyTooLarge) -> JSONResponse:
        await run_in_threadpool(station.count_refused, None)
        return JSONResponse({"error": "body too large"}, status_code=413)

    @app.exception_handler(RemoteProtocolError)
    async def refused(_request: Request, exc: RemoteProtocolError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(StationError)
    async def station_error(_request: Request, exc: StationError) -> JSONResponse:
        status = {ChannelNotFound: 404, InvalidRequest: 422}.get(type(exc), 409)
        return JSONResponse({"error": str(exc)}, status_code=status)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    async def counted(parse: Callable[[bytes], T], request: Request, limit: int) -> T:
        """Parse a peer body; count it in the station's status if it is refused."""
        data = await read_capped(request, limit)
        try:
            return parse(data)
        except RemoteProtocolError:
            await run_in_threadpool(station.count_refused, None)
            raise

    @app.post("/peer/v1/envelope")
    async def envelope(request: Request) -> Response:
        data = await read_capped(request, MAX_ENVELOPE_BYTES)
        ack = await run_in_threadpool(station.receive, data)
        return Response(ack, media_type="application/octet-stream")

    @app.post("/peer/v1/envelopes")
    async def envelopes(request: Request) -> Response:
        """Several envelopes of one channel, in order, committed together (see batches.py)."""
        batch = await counted(decode_batch, request, MAX_BATCH_BYTES)
        ack, refused = await run_in_threadpool(station.receive_batch, batch)
        # The reason may quote peer-supplied text: keep the header plain ASCII.
        reason = (refused or "")[:200].encode("ascii", "backslashreplace").decode()
        headers = {"x-refused": reason} if refused else {}
        return Response(ack, media_type="application/octet-stream", headers=headers)

    @app.post("/peer/v1/pair")
    async def pair(request: Request) -> dict[str, str]:
        data = await read_capped(request, 64 * 1024)
        try:
            status = await run_in_threadpool(station.accept_pairing, data)
        except RemoteProtocolError:
            await run_in_threadpool(station.count_refused, None)
            raise
        return {"channel_id": status.channel_id, "station": station.config.station}

    return app
