"""The channel glossary in the officer API (``/api/v1``): read it, propose terms, answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from backchannel.protocol.glossary import MAX_NOTE_CHARS, MAX_RENDERING_CHARS, MAX_TERMS
from backchannel.protocol.languages import MAX_LANGUAGES, MAX_TAG_CHARS
from backchannel.station.access.auth import CallerDep
from backchannel.station.languages.desk import GlossaryDeskDep
from backchannel.station.web.params import ERRORS, ChannelId, ProposalId

router = APIRouter(prefix="/api/v1", responses=ERRORS)


class RenderingIn(BaseModel):
    language: str = Field(min_length=2, max_length=MAX_TAG_CHARS)
    text: str = Field(min_length=1, max_length=MAX_RENDERING_CHARS)


class TermIn(BaseModel):
    id: str = Field(min_length=1, max_length=48)
    renderings: list[RenderingIn] = Field(min_length=2, max_length=MAX_LANGUAGES)


class GlossaryProposalIn(BaseModel):
    terms: list[TermIn] = Field(min_length=1, max_length=MAX_TERMS)
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)


class GlossaryAnswerIn(BaseModel):
    accepted: list[str] = Field(default_factory=list, max_length=MAX_TERMS)
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)


@router.get("/channels/{channel}/glossary")
def glossary(channel: ChannelId, who: CallerDep, desk: GlossaryDeskDep) -> list[dict[str, Any]]:
    return [
        {
            "term": v.term_id,
            "proposal_id": v.proposal_id,
            "state": v.state,
            "ours": v.ours,
            "renderings": {r.language: r.text for r in v.renderings},
        }
        for v in desk.terms(who.officer, channel, who.origin)
    ]


@router.post("/channels/{channel}/glossary", status_code=201)
def propose(
    channel: ChannelId, body: GlossaryProposalIn, who: CallerDep, desk: GlossaryDeskDep
) -> dict[str, str]:
    terms = [(t.id, [(r.language, r.text) for r in t.renderings]) for t in body.terms]
    proposal_id = desk.propose(who.officer, channel, who.origin, terms, body.note)
    return {"proposal_id": proposal_id}


@router.post("/channels/{channel}/glossary/{proposal_id}/answer", status_code=201)
def answer(
    channel: ChannelId,
    proposal_id: ProposalId,
    body: GlossaryAnswerIn,
    who: CallerDep,
    desk: GlossaryDeskDep,
) -> dict[str, str]:
    desk.answer(
        who.officer, channel, who.origin, proposal_id, accepted=body.accepted, note=body.note
    )
    return {"status": "sent"}
