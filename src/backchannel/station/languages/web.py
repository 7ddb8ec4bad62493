"""The glossary page of a channel: the agreed terms, what waits, a form to propose one.

Its rows are read through the desk (audited); proposing and answering post to the
desk too, and a refusal comes back on the page in one line.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from backchannel.protocol.languages import MAX_LANGUAGES, name
from backchannel.station.access.auth import CallerDep
from backchannel.station.access.policy import Action
from backchannel.station.core.errors import Forbidden, StationError
from backchannel.station.languages.desk import GlossaryDesk, GlossaryDeskDep
from backchannel.station.languages.register import PROPOSED
from backchannel.station.web.pages import add_templates, back, page

router = APIRouter(include_in_schema=False)
add_templates(Path(__file__).parent / "templates")


@router.get("/channels/{channel}/glossary")
def glossary(request: Request, channel: str, who: CallerDep, desk: GlossaryDeskDep) -> HTMLResponse:
    return _page(request, who, desk, channel)


@router.post("/channels/{channel}/glossary")
async def propose(
    request: Request, channel: str, who: CallerDep, desk: GlossaryDeskDep
) -> Response:
    form = {k: str(v) for k, v in (await request.form()).multi_items()}
    pairs = [
        (form.get(f"language-{n}", ""), form.get(f"rendering-{n}", ""))
        for n in range(MAX_LANGUAGES)
    ]
    renderings = [(tag, text) for tag, text in pairs if tag.strip() or text.strip()]
    try:
        desk.propose(who.officer, channel, who.origin, [(form.get("term", ""), renderings)],
                     form.get("note", ""))  # fmt: skip
    except Forbidden:
        raise
    except StationError as exc:
        return _page(request, who, desk, channel, error=str(exc), form=form)
    return back(f"/channels/{desk.station.resolve(channel)}/glossary")


@router.post("/channels/{channel}/glossary/{proposal_id}/answer")
async def answer(
    request: Request, channel: str, proposal_id: str, who: CallerDep, desk: GlossaryDeskDep
) -> Response:
    posted = await request.form()
    accepted = [str(v) for v in posted.getlist("accept")]
    try:
        desk.answer(who.officer, channel, who.origin, proposal_id, accepted=accepted)
    except Forbidden:
        raise
    except StationError as exc:
        return _page(request, who, desk, channel, error=str(exc))
    return back(f"/channels/{desk.station.resolve(channel)}/glossary")


def _page(
    request: Request, who: CallerDep, desk: GlossaryDesk, channel: str, *, error: str = "",
    form: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    status = desk.door.channel(who.officer, channel)
    terms = desk.terms(who.officer, status.channel_id, who.origin)
    waiting: dict[str, list[str]] = {}
    for v in terms:
        if v.state == PROPOSED and not v.ours:
            waiting.setdefault(v.proposal_id, []).append(v.term_id)
    return page(
        request, "glossary.html", 422 if error else 200, who=who, status=status, terms=terms,
        waiting=waiting, error=error, form=form or {}, slots=range(MAX_LANGUAGES),
        language_name=name, may_negotiate=who.officer.may(Action.NEGOTIATE),
    )  # fmt: skip
