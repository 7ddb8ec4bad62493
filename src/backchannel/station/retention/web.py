"""The retention page of a channel: the register, where each policy stands, and the
principal's forms to propose, answer, hold and lift."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import FormData

from backchannel.protocol.retention import DESTRUCTIBLE, Rule
from backchannel.station.access.auth import CallerDep
from backchannel.station.access.policy import Action
from backchannel.station.core.errors import InvalidRequest
from backchannel.station.retention.desk import DeskDep
from backchannel.station.retention.hooks import period, rule_words
from backchannel.station.web.pages import add_templates, back, page, stamp

router = APIRouter(include_in_schema=False)
add_templates(Path(__file__).parent / "templates")
UNITS = {"days": 86400, "hours": 3600, "minutes": 60}


@router.get("/channels/{channel}/retention")
def retention(request: Request, channel: str, who: CallerDep, desk: DeskDep) -> HTMLResponse:
    status = desk.door.channel(who.officer, channel)
    view = desk.view(who.officer, status.channel_id, who.origin)
    return page(
        request,
        "retention.html",
        who=who,
        status=status,
        view=view,
        rule_words=rule_words,
        period=period,
        stamp=stamp,
        types=DESTRUCTIBLE,
        units=UNITS,
        may_agree=who.officer.may(Action.AGREE_RETENTION),
    )


@router.post("/channels/{channel}/retention/propose")
async def propose(
    request: Request, channel: str, who: CallerDep, desk: DeskDep
) -> RedirectResponse:
    form = await request.form()
    rules = (_rule(form),) if form.get("end") != "yes" else ()
    desk.propose(
        who.officer,
        channel,
        who.origin,
        title=str(form.get("title", "")).strip(),
        rules=rules,
        policy_id=str(form.get("policy_id", "")),
    )
    return back(f"/channels/{channel}/retention")


@router.post("/channels/{channel}/retention/answer")
async def answer(request: Request, channel: str, who: CallerDep, desk: DeskDep) -> RedirectResponse:
    form = await request.form()
    verdict = form.get("verdict")
    if verdict not in ("accept", "decline"):
        raise InvalidRequest("answer with accept or decline")
    accept = verdict == "accept"
    note = str(form.get("note", ""))
    version = str(form.get("version", ""))
    desk.answer(who.officer, channel, who.origin, version=version, accept=accept, note=note)
    return back(f"/channels/{channel}/retention")


@router.post("/channels/{channel}/retention/hold")
async def hold(request: Request, channel: str, who: CallerDep, desk: DeskDep) -> RedirectResponse:
    form = await request.form()
    items = str(form.get("items", "")).split()
    desk.hold(who.officer, channel, who.origin, str(form.get("reason", "")), items)
    return back(f"/channels/{channel}/retention")


@router.post("/channels/{channel}/retention/lift")
async def lift(request: Request, channel: str, who: CallerDep, desk: DeskDep) -> RedirectResponse:
    form = await request.form()
    desk.lift(who.officer, channel, who.origin, str(form.get("hold_id", "")))
    return back(f"/channels/{channel}/retention")


def _rule(form: FormData) -> Rule:
    """The one rule the form gives (more rules: the API or the CLI)."""
    amount, unit = str(form.get("amount", "")).strip(), str(form.get("unit", "days"))
    if not re.fullmatch(r"-?[0-9]{1,12}", amount) or unit not in UNITS:
        raise InvalidRequest("give the period as a whole number of days, hours or minutes")
    types = tuple(str(t) for t in form.getlist("item_type"))
    after = str(form.get("after", "sent"))
    if after not in ("sent", "acknowledged"):
        raise InvalidRequest("a period counts from 'sent' or 'acknowledged'")
    labels = tuple(sorted(set(str(form.get("labels", "")).split())))
    return Rule(types, int(amount) * UNITS[unit], after, labels)  # type: ignore[arg-type]
