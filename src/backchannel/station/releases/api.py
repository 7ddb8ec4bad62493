"""The releases part of the officer API, under ``/api/v1/channels/{channel}/releases``."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import AwareDatetime, BaseModel, Field

from backchannel.protocol.release import ReleasedText
from backchannel.station.access.auth import CallerDep
from backchannel.station.core.records import to_json
from backchannel.station.releases.desk import DeskDep
from backchannel.station.web.params import ERRORS, ChannelId, RequestId

router = APIRouter(prefix="/api/v1", responses=ERRORS)


class ReleasedTextIn(BaseModel):
    item_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    mode: Literal["verbatim", "redacted", "summarised"]
    text: str = Field(min_length=1, max_length=64 * 1024)


class ReleaseIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    statement: str = Field(default="", max_length=64 * 1024)
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    texts: list[ReleasedTextIn] = Field(min_length=1, max_length=64)
    supersedes: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    respond_by: AwareDatetime | None = None  # a decision is asked for by then


class DeclineIn(BaseModel):
    reason: str = Field(default="", max_length=64 * 1024)


@router.get("/channels/{channel}/releases")
def releases(channel: ChannelId, who: CallerDep, desk: DeskDep) -> list[dict[str, Any]]:
    plain: list[dict[str, Any]] = to_json(desk.requests(who.officer, channel, who.origin))
    return plain


@router.post("/channels/{channel}/releases", status_code=201)
def request_release(
    channel: ChannelId, body: ReleaseIn, who: CallerDep, desk: DeskDep
) -> dict[str, str]:
    texts = [ReleasedText(bytes.fromhex(t.item_hash), t.mode, t.text) for t in body.texts]
    request_id = desk.request(
        who.officer,
        channel,
        who.origin,
        texts,
        title=body.title,
        statement=body.statement,
        date=body.date,
        supersedes=body.supersedes,
        respond_by=body.respond_by,
    )
    return {"request_id": request_id}


@router.post("/channels/{channel}/releases/{request_id}/approve")
def approve_release(
    channel: ChannelId, request_id: RequestId, who: CallerDep, desk: DeskDep
) -> dict[str, str]:
    desk.decide(who.officer, channel, who.origin, request_id, approve=True)
    return {"request_id": request_id, "decision": "approved"}


@router.post("/channels/{channel}/releases/{request_id}/decline")
def decline_release(
    channel: ChannelId, request_id: RequestId, body: DeclineIn, who: CallerDep, desk: DeskDep
) -> dict[str, str]:
    desk.decide(who.officer, channel, who.origin, request_id, approve=False, reason=body.reason)
    return {"request_id": request_id, "decision": "declined"}


@router.get("/channels/{channel}/releases/{request_id}/bundle")
def bundle(channel: ChannelId, request_id: RequestId, who: CallerDep, desk: DeskDep) -> Response:
    data = desk.bundle(who.officer, channel, who.origin, request_id)
    disposition = f'attachment; filename="release-{request_id[:12]}.json"'
    return Response(
        data, media_type="application/json", headers={"content-disposition": disposition}
    )
