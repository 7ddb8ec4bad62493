"""Retention in the officer API (``/api/v1``): the register, proposing, answering, holds."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from backchannel.protocol.retention import MAX_HOLD_ITEMS, MAX_RULES, Rule
from backchannel.station.access.auth import CallerDep
from backchannel.station.retention.desk import DeskDep, RetentionView
from backchannel.station.web.params import ERRORS, HEX32, HEX64, ChannelId

router = APIRouter(prefix="/api/v1", responses=ERRORS, tags=["retention"])
HoldId = Annotated[str, Path(pattern=HEX32, description="A hold's id (32 hex digits).")]
Hash = Annotated[str, Field(pattern=HEX64)]


class RuleIn(BaseModel):
    # Checked against protocol.retention.DESTRUCTIBLE when the policy is built.
    item_types: list[str] = Field(min_length=1, max_length=3)
    period_s: int = Field(ge=0, le=100 * 366 * 86400, description="Seconds after `after`.")
    after: Literal["sent", "acknowledged"] = "sent"
    labels: list[str] = Field(default_factory=list, max_length=8)


class PolicyIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    rules: list[RuleIn] = Field(max_length=MAX_RULES, description="None: end the policy.")
    policy_id: str = Field(
        default="", pattern=r"^([0-9a-f]{32})?$", description="Propose the next version of it."
    )


class AnswerIn(BaseModel):
    version: str = Field(pattern=HEX64, description="The version's item hash.")
    accept: bool
    note: str = Field(default="", max_length=64 * 1024)


class HoldIn(BaseModel):
    reason: str = Field(min_length=1, max_length=64 * 1024)
    items: list[Hash] = Field(default_factory=list, max_length=MAX_HOLD_ITEMS)


def view_json(view: RetentionView) -> dict[str, Any]:
    def side(by: str) -> str:
        return "us" if by == view.us else "them"

    return {
        "versions": [
            {
                "hash": v.item_hash.hex(),
                "policy_id": v.policy.policy_id.hex(),
                "version": v.policy.version,
                "title": v.policy.title,
                "rules": [
                    {
                        "item_types": list(r.item_types),
                        "period_s": r.period_s,
                        "after": r.after,
                        "labels": list(r.labels),
                    }
                    for r in v.policy.rules
                ],
                "by": side(v.by),
                "state": v.state,
            }
            for v in view.versions
        ],
        "holds": [
            {
                "hold_id": h.hold_id.hex(),
                "by": side(h.by),
                "reason": h.reason,
                "items": [i.hex() for i in h.items],
                "lifted": h.lifted,
            }
            for h in view.holds
        ],
        "in_force": [
            {
                "hash": st.version.item_hash.hex(),
                "destroyed_here": st.destroyed_here,
                "destroyed_there": st.destroyed_there,
                "overdue_here": list(st.overdue_here),
                "overdue_there": list(st.overdue_there),
            }
            for st in view.standing
        ],
    }


@router.get("/channels/{channel}/retention")
def register(channel: ChannelId, who: CallerDep, desk: DeskDep) -> dict[str, Any]:
    return view_json(desk.view(who.officer, channel, who.origin))


@router.post("/channels/{channel}/retention/policies", status_code=201)
def propose(channel: ChannelId, body: PolicyIn, who: CallerDep, desk: DeskDep) -> dict[str, str]:
    rules = tuple(
        Rule(tuple(r.item_types), r.period_s, r.after, tuple(r.labels)) for r in body.rules
    )
    version = desk.propose(
        who.officer, channel, who.origin, title=body.title, rules=rules, policy_id=body.policy_id
    )
    return {"version": version}


@router.post("/channels/{channel}/retention/answers", status_code=201)
def answer(channel: ChannelId, body: AnswerIn, who: CallerDep, desk: DeskDep) -> dict[str, str]:
    sent = desk.answer(
        who.officer, channel, who.origin, version=body.version, accept=body.accept, note=body.note
    )
    return {"item": sent}


@router.post("/channels/{channel}/retention/holds", status_code=201)
def hold(channel: ChannelId, body: HoldIn, who: CallerDep, desk: DeskDep) -> dict[str, str]:
    return {"hold_id": desk.hold(who.officer, channel, who.origin, body.reason, body.items)}


@router.delete("/channels/{channel}/retention/holds/{hold_id}", status_code=204)
def lift(channel: ChannelId, hold_id: HoldId, who: CallerDep, desk: DeskDep) -> None:
    desk.lift(who.officer, channel, who.origin, hold_id)
