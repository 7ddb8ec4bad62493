"""The officer API under ``/api/v1`` (JSON; the schema is at ``/openapi.json``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, Field

from backchannel.protocol import Message
from backchannel.protocol.items import Role

from .records import ChannelStatus, Entry, to_json
from .service import Station


def get_station(request: Request) -> Station:
    station: Station = request.app.state.station
    return station


StationDep = Annotated[Station, Depends(get_station)]
router = APIRouter(prefix="/api/v1")


class MessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=64 * 1024)
    language: str = Field(default="en", min_length=2, max_length=35)
    from_role: Role = "officer"
    to_role: Role = "principal"
    ack_deadline: AwareDatetime | None = None


class AckIn(BaseModel):
    item_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    note: str = Field(default="", max_length=64 * 1024)


def entry_json(entry: Entry) -> dict[str, Any]:
    """An entry as plain JSON: hashes in hex, dates in ISO 8601."""
    plain: dict[str, Any] = to_json(entry)
    return plain


@router.get("/channels")
def channels(station: StationDep) -> list[ChannelStatus]:
    return station.statuses()


@router.get("/channels/{channel}")
def channel(channel: str, station: StationDep) -> ChannelStatus:
    return station.status(channel)


@router.post("/channels/{channel}/messages", status_code=201)
def send_message(channel: str, body: MessageIn, station: StationDep) -> dict[str, Any]:
    item = Message(
        text=body.text, language=body.language, from_role=body.from_role,
        to_role=body.to_role, ack_deadline=body.ack_deadline,
    )  # fmt: skip
    return entry_json(station.send(channel, item))


@router.post("/channels/{channel}/acks", status_code=201)
def acknowledge(channel: str, body: AckIn, station: StationDep) -> dict[str, Any]:
    return entry_json(station.acknowledge(channel, body.item_hash, body.note))


@router.get("/channels/{channel}/inbox")
def inbox(channel: str, station: StationDep) -> list[dict[str, Any]]:
    return [entry_json(e) for e in station.inbox(channel)]


@router.get("/channels/{channel}/transcript")
def transcript(channel: str, station: StationDep) -> list[dict[str, Any]]:
    return [entry_json(e) for e in station.transcript(channel)]
