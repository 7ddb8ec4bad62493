"""Proposals, the agreements register and deadlines in the officer API (``/api/v1``)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, Field

from backchannel.protocol.items import Role
from backchannel.protocol.proposal import Answer, Clause
from backchannel.station.access.auth import CallerDep
from backchannel.station.core.records import to_json
from backchannel.station.negotiation.desk import DeskDep
from backchannel.station.web.params import ERRORS, ChannelId, ProposalId

router = APIRouter(prefix="/api/v1", responses=ERRORS)


class ClauseIn(BaseModel):
    id: str = Field(min_length=1, max_length=32)
    text: str = Field(min_length=1, max_length=8 * 1024)
    category: str = Field(default="", max_length=40)
    action: Literal["add", "amend", "end"] = "add"
    target: str = Field(default="", max_length=70)


class ProposalIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    to_role: Role = "principal"
    clauses: list[ClauseIn] = Field(min_length=1, max_length=50)
    message: str = Field(default="", max_length=64 * 1024)
    respond_by: AwareDatetime
    clearances: list[str] = Field(default_factory=list, max_length=8)


class AnswerIn(BaseModel):
    clause_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
    verdict: Literal["accept", "decline", "counter", "discuss"]
    counter_text: str = Field(default="", max_length=8 * 1024)


class ResponseIn(BaseModel):
    answers: list[AnswerIn] = Field(min_length=1, max_length=50)
    message: str = Field(default="", max_length=64 * 1024)


class WithdrawIn(BaseModel):
    reason: str = Field(default="", max_length=64 * 1024)


@router.get("/channels/{channel}/proposals")
def proposals(channel: ChannelId, who: CallerDep, desk: DeskDep) -> list[dict[str, Any]]:
    return [
        {
            "proposal_id": p.proposal_id,
            "title": p.title,
            "state": p.state,
            "ours": p.ours,
            "version": p.version,
            "awaiting_us": p.awaiting_us,
            "respond_by": p.respond_by,
            "clearances": p.clearances.split(),
        }
        for p in desk.proposals(who.officer, channel, who.origin)
    ]


@router.post("/channels/{channel}/proposals", status_code=201)
def propose(channel: ChannelId, body: ProposalIn, who: CallerDep, desk: DeskDep) -> dict[str, str]:
    clauses = [Clause(c.id, c.text, c.category, c.action, c.target) for c in body.clauses]
    proposal_id = desk.propose(
        who.officer,
        channel,
        who.origin,
        title=body.title,
        to_role=body.to_role,
        clauses=clauses,
        message=body.message,
        respond_by=body.respond_by,
        clearances=tuple(body.clearances),
    )
    return {"proposal_id": proposal_id}


@router.get("/channels/{channel}/proposals/{proposal_id}")
def proposal(
    channel: ChannelId, proposal_id: ProposalId, who: CallerDep, desk: DeskDep
) -> dict[str, Any]:
    n = desk.proposal(who.officer, channel, proposal_id, who.origin)
    plain: dict[str, Any] = to_json(
        {
            "proposal": n.proposal,
            "proposal_hash": n.proposal_hash,
            "ours": n.ours,
            "state": n.state.value,
            "versions": n.versions,
            "agreed": n.agreed,
            "declined": n.declined,
            "awaiting_us": n.awaiting_us(),
        }
    )
    return plain


@router.post("/channels/{channel}/proposals/{proposal_id}/respond")
def respond(
    channel: ChannelId,
    proposal_id: ProposalId,
    body: ResponseIn,
    who: CallerDep,
    desk: DeskDep,
) -> dict[str, str]:
    answers = [Answer(a.clause_id, a.verdict, a.counter_text) for a in body.answers]
    desk.respond(
        who.officer, channel, who.origin, proposal_id, answers=answers, message=body.message
    )
    return {"proposal_id": proposal_id, "status": "answered"}


@router.post("/channels/{channel}/proposals/{proposal_id}/withdraw")
def withdraw(
    channel: ChannelId,
    proposal_id: ProposalId,
    body: WithdrawIn,
    who: CallerDep,
    desk: DeskDep,
) -> dict[str, str]:
    desk.withdraw(who.officer, channel, who.origin, proposal_id, body.reason)
    return {"proposal_id": proposal_id, "status": "withdrawn"}


@router.get("/channels/{channel}/agreements")
def agreements(channel: ChannelId, who: CallerDep, desk: DeskDep) -> list[dict[str, Any]]:
    plain: list[dict[str, Any]] = to_json(desk.agreements(who.officer, channel, who.origin))
    return plain
