"""Attachments over HTTP: staging a file in chunks, and downloading one.

An upload is begun with the file's name, size and SHA-256 (``POST /api/v1/uploads``)
and its chunks of 1 MiB are put in order (``PUT .../chunks/{index}``: one request
each, within the officer API's 1 MiB cap, so nothing ever holds a whole file); the
upload's id is then named in a message (``attachments``) to send it.  A download
(``GET .../items/{hash}/attachments/{n}``, in the API and on the web page alike)
streams the file after the desk checked and audited it; it is never shown inline:
``Content-Disposition: attachment``, ``nosniff`` and a ``sandbox`` policy, and the
sender's file name only ever in that header, quoted.  A preview (``.../{n}/preview``,
``?page=`` for a PDF) is a PNG the station drew from the file's pixels: shown inline,
under the same policy, named ``preview.png``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from backchannel.protocol.attachments import MAX_FILE_NAME_CHARS
from backchannel.station.access.auth import CallerDep
from backchannel.station.attachments.desk import AttachmentDesk
from backchannel.station.attachments.preview import MAX_PAGES
from backchannel.station.attachments.service import Held, Upload
from backchannel.station.web.params import ERRORS, HEX32, ChannelId, ItemHash

router = APIRouter(responses=ERRORS)
UploadId = Annotated[str, Path(pattern=HEX32, description="An upload's id (32 hex digits).")]
Index = Annotated[int, Path(ge=0, le=1 << 20, description="A chunk's index, from 0.")]
Position = Annotated[int, Path(ge=0, le=15, description="The attachment's number, from 0.")]
Page = Annotated[
    int, Query(ge=0, le=MAX_PAGES - 1, description="The page of a PDF to preview, from 0.")
]
DOWNLOAD_CSP = "sandbox; default-src 'none'"


class UploadIn(BaseModel):
    name: str = Field(min_length=1, max_length=MAX_FILE_NAME_CHARS)
    size: int = Field(ge=1, le=1 << 30)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")  # the file's SHA-256


def desk_of(request: Request) -> AttachmentDesk:
    desk: AttachmentDesk = request.app.state.attachment_desk
    return desk


def upload_json(upload: Upload) -> dict[str, Any]:
    return {
        "upload_id": upload.upload_id, "name": upload.name, "media_type": upload.media_type,
        "size": upload.size, "chunks": upload.chunks, "held": upload.held, "state": upload.state,
    }  # fmt: skip


def held_json(held: Held) -> dict[str, Any]:
    ref = held.ref
    return {
        "name": ref.name, "media_type": ref.media_type, "size": ref.size,
        "sha256": ref.digest.hex(), "state": held.state, "chunks": ref.chunks,
        "held": held.ref.chunks if held.ready else held.held,
        "detail": held.detail,
    }  # fmt: skip


@router.post("/api/v1/uploads", status_code=201)
def begin(request: Request, body: UploadIn, who: CallerDep) -> dict[str, Any]:
    return upload_json(desk_of(request).begin(who.officer, body.name, body.size, body.digest))


@router.put("/api/v1/uploads/{upload_id}/chunks/{index}")
async def put(request: Request, upload_id: UploadId, index: Index, who: CallerDep) -> Any:
    data = await request.body()  # capped at 1 MiB (a chunk) by the officer API's limit
    desk = desk_of(request)
    return upload_json(await run_in_threadpool(desk.put, who.officer, upload_id, index, data))


@router.get("/api/v1/channels/{channel}/items/{item_hash}/attachments")
def listing(
    request: Request, channel: ChannelId, item_hash: ItemHash, who: CallerDep
) -> list[dict[str, Any]]:
    """Where each file of an item stands here (its names are in the item itself)."""
    return [held_json(h) for h in desk_of(request).held(who.officer, channel, item_hash)]


FILE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file's bytes, as a download.", "content": {"*/*": {}}}
}


@router.get(
    "/api/v1/channels/{channel}/items/{item_hash}/attachments/{position}",
    response_class=StreamingResponse,
    responses=FILE,
)
async def download_api(
    request: Request, channel: ChannelId, item_hash: ItemHash, position: Position, who: CallerDep
) -> StreamingResponse:
    return await download(request, channel, item_hash, position, who)


@router.get(
    "/channels/{channel}/items/{item_hash}/attachments/{position}",
    include_in_schema=False,
    response_class=StreamingResponse,
)
async def download(
    request: Request, channel: ChannelId, item_hash: ItemHash, position: Position, who: CallerDep
) -> StreamingResponse:
    desk = desk_of(request)
    got = await run_in_threadpool(
        desk.download, who.officer, channel, item_hash, position, who.origin
    )
    headers = {
        "content-disposition": disposition(got.held.ref.name),
        "content-length": str(got.size),
        "content-security-policy": DOWNLOAD_CSP,  # beside the station's own (nosniff too)
    }
    return StreamingResponse(
        iterate_in_threadpool(got.chunks), media_type=got.held.ref.media_type, headers=headers
    )


PICTURE: dict[int | str, dict[str, Any]] = {
    200: {"description": "The file rendered as a PNG: its pixels only.",
          "content": {"image/png": {}}},
}  # fmt: skip


@router.get(
    "/api/v1/channels/{channel}/items/{item_hash}/attachments/{position}/preview",
    response_class=Response,
    responses=PICTURE,
)
async def preview_api(
    request: Request,
    channel: ChannelId,
    item_hash: ItemHash,
    position: Position,
    who: CallerDep,
    *,
    page: Page = 0,
) -> Response:
    return await preview(request, channel, item_hash, position, who, page=page)


@router.get(
    "/channels/{channel}/items/{item_hash}/attachments/{position}/preview",
    include_in_schema=False,
    response_class=Response,
)
async def preview(
    request: Request,
    channel: ChannelId,
    item_hash: ItemHash,
    position: Position,
    who: CallerDep,
    *,
    page: Page = 0,
) -> Response:
    desk = desk_of(request)
    png = await run_in_threadpool(
        desk.preview, who.officer, channel, item_hash, position, who.origin, page=page
    )
    headers = {  # no-store, nosniff and the station's own policy come from app.py
        "content-disposition": 'inline; filename="preview.png"',
        "content-security-policy": DOWNLOAD_CSP,
    }
    return Response(png, media_type="image/png", headers=headers)


def disposition(name: str) -> str:
    """``attachment`` with the name quoted twice: plain ASCII, and RFC 5987 UTF-8."""
    ascii_name = re.sub(r"[^A-Za-z0-9._ ()-]", "_", name)[:120] or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
