"""Proposal pages: compose clause by clause, read versions side by side, answer.

Also the agreements register of a channel and the station's due/overdue list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from backchannel.analysis.wording import Piece
from backchannel.protocol.proposal import Answer, Clause, Negotiation, Verdict
from backchannel.station.access.auth import CallerDep
from backchannel.station.access.policy import Action
from backchannel.station.core.errors import Forbidden, StationError
from backchannel.station.core.records import ChannelStatus
from backchannel.station.negotiation.desk import DeskDep, NegotiationDesk
from backchannel.station.web.pages import (
    add_templates,
    back,
    draft_of,
    page,
    parse_deadline,
    stamp,
)
from backchannel.station.web.params import MAX_CLAUSE_ROWS, ClauseRows, one_line

router = APIRouter(include_in_schema=False)
add_templates(Path(__file__).parent / "templates")
DEFAULT_ROWS, MORE_ROWS, MAX_ROWS = 5, 5, MAX_CLAUSE_ROWS
VERDICTS: tuple[Verdict, ...] = ("accept", "decline", "counter", "discuss")
ANSWER_FIELDS = ("verdict-", "counter-", "message")  # what an answer form posts, kept on errors


@router.get("/channels/{channel}/proposals")
def proposals(request: Request, channel: str, who: CallerDep, desk: DeskDep) -> HTMLResponse:
    status = desk.door.channel(who.officer, channel)
    rows = list(reversed(desk.proposals(who.officer, status.channel_id, who.origin)))
    return page(
        request,
        "proposals.html",
        who=who,
        status=status,
        proposals=rows,
        stamp=stamp,
        may_negotiate=who.officer.may(Action.NEGOTIATE),
    )


@router.get("/channels/{channel}/proposals/new")
def new_proposal(
    request: Request, channel: str, who: CallerDep, desk: DeskDep, rows: ClauseRows = DEFAULT_ROWS
) -> HTMLResponse:
    _may_negotiate(who)
    status = desk.door.channel(who.officer, channel)
    values = desk.door.attention.draft(who.officer, draft_of(status.channel_id, "proposal"))
    chosen = values.pop("clearance", "").split()
    if values.get("rows", "").isdecimal():  # the draft had this many rows
        rows = max(rows, min(int(values["rows"]), MAX_ROWS))
    return _proposal_form(request, who, status, values, chosen, rows, drafted=bool(values))


@router.post("/channels/{channel}/proposals/new")
async def create_proposal(
    request: Request, channel: str, who: CallerDep, desk: DeskDep
) -> Response:
    _may_negotiate(who)
    form = await request.form()
    values = {k: str(v) for k, v in form.multi_items() if k not in ("clearance", "more")}
    chosen = [str(v) for v in form.getlist("clearance")]
    rows = DEFAULT_ROWS
    try:
        rows = _rows(str(form.get("rows", "")))
        if form.get("more"):  # "More clause rows": the same form, longer, nothing sent
            values["rows"] = str(min(rows + MORE_ROWS, MAX_ROWS))
            status = desk.door.channel(who.officer, channel)
            return _proposal_form(request, who, status, values, chosen, int(values["rows"]))
        respond_by = parse_deadline(str(form.get("respond_by", "")))
        if respond_by is None:
            raise StationError("give the date by which a response is asked for")
        proposal_id = desk.propose(
            who.officer,
            channel,
            who.origin,
            title=str(form.get("title", "")),
            to_role=_role(str(form.get("to_role", "principal"))),
            clauses=_clauses(form, rows),
            message=str(form.get("message", "")),
            respond_by=respond_by,
            clearances=tuple(sorted(set(chosen))),
        )
    except Forbidden:
        raise
    except StationError as exc:
        status = desk.door.channel(who.officer, channel)
        return _proposal_form(request, who, status, values, chosen, rows, one_line(str(exc)))
    desk.door.attention.drop_draft(who.officer, draft_of(desk.station.resolve(channel), "proposal"))
    return back(f"/channels/{channel}/proposals/{proposal_id}")


def _proposal_form(
    request: Request,
    who: Any,
    status: ChannelStatus,
    values: dict[str, str],
    chosen: list[str],
    rows: int,
    error: str = "",
    *,
    drafted: bool = False,
) -> HTMLResponse:
    """The new-proposal form, with what was posted (after an error, or with more rows),
    or with the officer's draft of it."""
    return page(
        request,
        "proposal_new.html",
        422 if error else 200,
        who=who,
        status=status,
        form=values,
        error=error,
        rows=rows,
        max_rows=MAX_ROWS,
        chosen=chosen,
        drafted=drafted,
    )


@router.get("/channels/{channel}/proposals/{proposal_id}")
def proposal(
    request: Request, channel: str, proposal_id: str, who: CallerDep, desk: DeskDep
) -> HTMLResponse:
    return _proposal_page(request, channel, proposal_id, who, desk)


def _proposal_page(
    request: Request,
    channel: str,
    proposal_id: str,
    who: Any,
    desk: NegotiationDesk,
    *,
    error: str = "",
    given: dict[str, str] | None = None,
) -> HTMLResponse:
    """A proposal's versions and the answer form; after an error, the answers as given."""
    status = desk.door.channel(who.officer, channel)
    reading = desk.reading(who.officer, status.channel_id, proposal_id, who.origin)
    n = reading.negotiation
    may_answer = n.awaiting_us() and who.officer.may(Action.NEGOTIATE)
    drafted = {}
    if may_answer and given is None:
        drafted = desk.door.attention.draft(who.officer, answer_draft(proposal_id, n))
    return page(
        request,
        "proposal.html",
        422 if error else 200,
        who=who,
        status=status,
        n=n,
        grid=grid(n, reading.changes),
        proposal_id=proposal_id,
        verdicts=VERDICTS,
        error=error,
        given=given or drafted,
        drafted=bool(drafted),
        draft=answer_draft(proposal_id, n),
        may_answer=may_answer,
        may_withdraw=n.ours and n.state.value == "open" and who.officer.may(Action.NEGOTIATE),
    )


@router.post("/channels/{channel}/proposals/{proposal_id}/respond")
async def respond(
    request: Request, channel: str, proposal_id: str, who: CallerDep, desk: DeskDep
) -> Response:
    _may_negotiate(who)
    form = await request.form()
    given = {k: str(v) for k, v in form.items() if k.startswith(ANSWER_FIELDS)}
    try:
        answers = [
            Answer(
                cid,
                _verdict(given.get(f"verdict-{cid}", "")),
                given.get(f"counter-{cid}", "") if given.get(f"verdict-{cid}") == "counter" else "",
            )
            for cid in [str(v) for v in form.getlist("clause")]
        ]
        desk.respond(
            who.officer,
            channel,
            who.origin,
            proposal_id,
            answers=answers,
            message=given.get("message", ""),
        )
    except Forbidden:
        raise
    except StationError as exc:
        return _proposal_page(
            request, channel, proposal_id, who, desk, error=one_line(str(exc)), given=given
        )
    desk.door.attention.drop_draft(who.officer, f"answer:{proposal_id}.{form.get('version', '')}")
    return back(f"/channels/{channel}/proposals/{proposal_id}")


@router.post("/channels/{channel}/proposals/{proposal_id}/withdraw")
async def withdraw(
    request: Request, channel: str, proposal_id: str, who: CallerDep, desk: DeskDep
) -> RedirectResponse:
    reason = str((await request.form()).get("reason", ""))
    desk.withdraw(who.officer, channel, who.origin, proposal_id, reason)
    return back(f"/channels/{channel}/proposals/{proposal_id}")


@router.get("/channels/{channel}/agreements")
def agreements(request: Request, channel: str, who: CallerDep, desk: DeskDep) -> HTMLResponse:
    status = desk.door.channel(who.officer, channel)
    rows = desk.agreements(who.officer, status.channel_id, who.origin)
    return page(request, "agreements.html", who=who, status=status, agreements=rows)


def answer_draft(proposal_id: str, n: Negotiation) -> str:
    """The name of the draft of the answer to a proposal's open version."""
    return f"answer:{proposal_id}.{n.current.number}"


def grid(
    n: Negotiation, changes: dict[tuple[int, str], list[Piece]] | None = None
) -> list[dict[str, Any]]:
    """One row per clause id; per version its text (if open there), the words changed
    since the version before, and the answer given."""
    ids: list[str] = []
    for v in n.versions:
        ids += [c.id for c in v.clauses if c.id not in ids]
    rows = []
    for cid in ids:
        cells = []
        for v in n.versions:
            clause = next((c for c in v.clauses if c.id == cid), None)
            answer = next((a for a in v.answers if a.clause_id == cid), None)
            pieces = (changes or {}).get((v.number, cid))
            cells.append({"clause": clause, "answer": answer, "pieces": pieces})
        agreed = any(a.clause.id == cid for a in n.agreed)
        rows.append({"id": cid, "cells": cells, "agreed": agreed, "declined": cid in n.declined})
    return rows


def _rows(value: str) -> int:
    """How many clause rows the form had; a damaged value is refused."""
    if not (
        value.isascii() and value.isdecimal() and len(value) <= 3 and 1 <= int(value) <= MAX_ROWS
    ):
        raise StationError("the form was damaged (its row count); reload the page")
    return int(value)


def _clauses(form: FormData, rows: int) -> list[Clause]:
    clauses = []
    for i in range(rows):
        text = str(form.get(f"text-{i}", "")).strip()
        if not text:
            continue
        cid = str(form.get(f"id-{i}", "")).strip() or str(i + 1)
        clauses.append(Clause(cid, text, str(form.get(f"category-{i}", "")).strip()))
    if not clauses:
        raise StationError("write at least one clause")
    return clauses


def _verdict(value: str) -> Verdict:
    if value not in VERDICTS:
        raise StationError("choose accept, decline, counter or discuss for every clause")
    return value


def _role(value: str) -> Any:
    if value not in ("principal", "officer", "reader"):
        raise StationError("address the proposal to a principal, officer or reader")
    return value


def _may_negotiate(who: Any) -> None:
    if not who.officer.may(Action.NEGOTIATE):
        raise Forbidden(f"your role ({who.officer.role}) does not allow negotiating proposals")
