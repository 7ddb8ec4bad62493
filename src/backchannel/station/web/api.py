"""The officer API under ``/api/v1`` (JSON; the schema is at ``/openapi.json``).

Every endpoint needs a signed-in officer: a session cookie (plus the CSRF header for
changes) or ``Authorization: Bearer <token>``.  What each role may do is checked by
the door (``access/door.py``), which also audits every item an answer contains.
"""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import APIRouter, Request, Response
from pydantic import AwareDatetime, BaseModel, Field

from backchannel.protocol.items import Role
from backchannel.protocol.languages import Text
from backchannel.station.access.auth import CallerDep, DoorDep
from backchannel.station.access.door import DOING, Rendering
from backchannel.station.access.policy import Action
from backchannel.station.core.audit import AuditEntry
from backchannel.station.core.errors import Forbidden, InvalidRequest
from backchannel.station.core.records import ChannelStatus, Entry, to_json
from backchannel.station.web.params import (
    ERRORS,
    After,
    ChannelFilter,
    ChannelId,
    ItemFilter,
    ItemHash,
    Language,
    OfficerFilter,
)

router = APIRouter(prefix="/api/v1", responses=ERRORS)


class TextIn(BaseModel):
    """The message in one more language (docs/languages.md)."""

    language: str = Field(min_length=2, max_length=35)
    text: str = Field(min_length=1, max_length=64 * 1024)


class MessageIn(BaseModel):
    text: str = Field(min_length=1, max_length=64 * 1024)
    language: str = Field(default="en", min_length=2, max_length=35)
    # The same message in other languages, and which text is authoritative:
    # "same-force" or the language of the one that prevails.
    others: list[TextIn] = Field(default_factory=list, max_length=3)
    authority: str = Field(default="", max_length=35)
    # Send it although the channel glossary flags a term (docs/languages.md).
    despite_flags: bool = False
    to_role: Role = "principal"
    clearances: list[str] = Field(default_factory=list, max_length=8)
    ack_deadline: AwareDatetime | None = None
    reply_to: str = Field(default="", pattern=r"^([0-9a-f]{64})?$")  # the item it answers
    # Staged files (POST /api/v1/uploads) it carries: with any, the item is a document.
    attachments: list[str] = Field(default_factory=list, max_length=16)


class AckIn(BaseModel):
    item_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    note: str = Field(default="", max_length=64 * 1024)


def entry_json(entry: Entry) -> dict[str, Any]:
    """An entry as plain JSON: hashes in hex, dates in ISO 8601."""
    plain: dict[str, Any] = to_json(entry)
    return plain


def json_response(plain: Any, status_code: int = 200) -> Response:
    """Plain JSON values, encoded once.

    A route that returns a dict has FastAPI validate and re-encode it through a
    pydantic adapter: on the send path that was a tenth of the station's CPU per item
    (docs/benchmarks.md).  The entry routes encode their already plain values here.
    """
    return Response(msgspec.json.encode(plain), status_code, media_type="application/json")


# Entry routes answer with a Response of their own; their schema is the entry's fields.
ENTRY = {"description": "An item of the transcript (fields in docs/station.md)."}
ENTRIES = {"description": "Items of the transcript, oldest first."}


@router.get("/me")
def me(who: CallerDep) -> dict[str, Any]:
    o = who.officer
    return {"name": o.name, "role": o.role, "clearances": sorted(o.clearances)}


@router.get("/channels")
def channels(who: CallerDep, door: DoorDep) -> list[ChannelStatus]:
    return door.channels(who.officer)


@router.get("/channels/{channel}")
def channel(channel: ChannelId, who: CallerDep, door: DoorDep) -> ChannelStatus:
    return door.channel(who.officer, channel)


@router.post("/channels/{channel}/confirm")
def confirm(channel: ChannelId, who: CallerDep, door: DoorDep) -> ChannelStatus:
    return door.confirm(who.officer, channel, who.origin)


@router.post("/channels/{channel}/messages", status_code=201, responses={201: ENTRY})
def send_message(
    request: Request, channel: ChannelId, body: MessageIn, who: CallerDep, door: DoorDep
) -> Response:
    desk = request.app.state.attachment_desk
    entry = desk.send(
        who.officer,
        channel,
        who.origin,
        tuple(body.attachments),
        text=body.text,
        to_role=body.to_role,
        language=body.language,
        clearances=tuple(body.clearances),
        ack_deadline=body.ack_deadline,
        reply_to=body.reply_to,
        others=tuple(Text(t.language, t.text) for t in body.others),
        authority=body.authority,
        despite_flags=body.despite_flags,
    )
    return json_response(entry_json(entry), 201)


@router.post("/channels/{channel}/acks", status_code=201, responses={201: ENTRY})
def acknowledge(channel: ChannelId, body: AckIn, who: CallerDep, door: DoorDep) -> Response:
    entry = door.acknowledge(who.officer, channel, body.item_hash, who.origin, body.note)
    return json_response(entry_json(entry), 201)


@router.get("/channels/{channel}/inbox", responses={200: ENTRIES})
def inbox(channel: ChannelId, who: CallerDep, door: DoorDep, language: Language = "") -> Response:
    shown = door.thread(who.officer, channel, who.origin, direction="in", language=language)
    return json_response([shown_json(r) for r in shown])


@router.get("/channels/{channel}/transcript", responses={200: ENTRIES})
def transcript(
    channel: ChannelId, who: CallerDep, door: DoorDep, after: After = 0, language: Language = ""
) -> Response:
    shown = door.thread(who.officer, channel, who.origin, after=after, language=language)
    return json_response([shown_json(r) for r in shown])


@router.get("/channels/{channel}/items/{item_hash}", responses={200: ENTRY})
def item(
    channel: ChannelId, item_hash: ItemHash, who: CallerDep, door: DoorDep, language: Language = ""
) -> Response:
    shown = door.item(who.officer, channel, item_hash, who.origin, language=language)
    return json_response(shown_json(shown))


def shown_json(shown: Rendering) -> dict[str, Any]:
    """An entry as the door showed it; one in several languages also says which text
    is shown first (``item.text``) and which is authoritative, in words."""
    plain = entry_json(shown.entry)
    if shown.texts:
        plain["shown_in"], plain["authority"] = shown.language, shown.authority
    return plain


@router.get("/audit")
def audit(
    who: CallerDep, door: DoorDep, officer: OfficerFilter = None, item: ItemFilter = None
) -> list[dict[str, Any]]:
    if not who.officer.may(Action.READ_AUDIT):
        raise Forbidden(f"your role ({who.officer.role}) does not allow {DOING[Action.READ_AUDIT]}")
    rows = door.station.audit.show(officer=officer, item_hash=_hash_or_none(item))
    return [audit_json(r) for r in rows]


def audit_json(entry: AuditEntry) -> dict[str, Any]:
    plain: dict[str, Any] = to_json({"seq": entry.seq, "at": entry.at, **to_json(entry.record)})
    return plain


def _hash_or_none(text: str | None) -> bytes | None:
    if not text:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InvalidRequest("the item must be a hex hash") from None


@router.get("/due")
def due(who: CallerDep, door: DoorDep, channel: ChannelFilter = None) -> list[dict[str, Any]]:
    plain: list[dict[str, Any]] = to_json(door.due(who.officer, channel))
    return plain
