"""The release pages: list a channel's requests, request, approve, decline, counter.

A principal picks items from the thread, writes the exact public text of each, and
sends the request; the counterpart's principal reads each original beside its public
text and approves that exact text, declines, or counters with other texts.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from backchannel.protocol import Message
from backchannel.protocol.release import ReleasedText
from backchannel.station.access.auth import CallerDep
from backchannel.station.access.policy import Action
from backchannel.station.core.errors import Forbidden, StationError
from backchannel.station.releases.desk import DeskDep, ReleaseDesk
from backchannel.station.releases.views import ReleaseView
from backchannel.station.web.pages import (
    add_templates,
    back,
    draft_of,
    page,
    parse_deadline,
    stamp,
)
from backchannel.station.web.params import one_line

router = APIRouter(include_in_schema=False)
add_templates(Path(__file__).parent / "templates")
MODES = ("verbatim", "redacted", "summarised")


@router.get("/channels/{channel}/releases")
def releases(request: Request, channel: str, who: CallerDep, desk: DeskDep) -> HTMLResponse:
    status = desk.door.channel(who.officer, channel)
    views = desk.requests(who.officer, status.channel_id, who.origin)
    originals = _originals(desk, who, status.channel_id, views)
    return page(
        request,
        "releases.html",
        who=who,
        status=status,
        releases=list(reversed(views)),
        originals=originals,
        reasons=desk.reasons(who.officer, status.channel_id, who.origin, views),
        stamp=stamp,
        may_decide=who.officer.may(Action.DECIDE_RELEASE),
    )


@router.get("/channels/{channel}/releases/new")
def new_release(
    request: Request, channel: str, who: CallerDep, desk: DeskDep, counter: str = ""
) -> HTMLResponse:
    _may_decide(who)
    status = desk.door.channel(who.officer, channel)
    countered = _countered(desk, who, status.channel_id, counter)
    if countered:
        chosen = {t.item_hash.hex(): t for t in countered.texts}
        return _request_form(request, who, desk, status.channel_id, chosen, countered)
    drafted = desk.door.attention.draft(who.officer, draft_of(status.channel_id, "release"))
    form = {k: v for k, v in drafted.items() if not k.startswith(("item", "mode-", "text-"))}
    return _request_form(
        request, who, desk, status.channel_id, _texts(drafted, drafted.get("item", "").split()),
        None, form=form, drafted=bool(drafted),
    )  # fmt: skip


@router.post("/channels/{channel}/releases/new")
async def create_release(request: Request, channel: str, who: CallerDep, desk: DeskDep) -> Response:
    _may_decide(who)
    form = await request.form()
    texts = list(_texts(form, [str(v) for v in form.getlist("item")]).values())
    counter = str(form.get("counter", "")) or None
    try:
        if not texts:
            raise StationError("choose at least one item to release")
        desk.request(
            who.officer,
            channel,
            who.origin,
            texts,
            title=str(form.get("title", "")),
            statement=str(form.get("statement", "")),
            date=str(form.get("date", "")),
            supersedes=counter,
            respond_by=parse_deadline(str(form.get("respond_by", ""))),
        )
    except Forbidden:
        raise
    except StationError as exc:
        channel_id = desk.door.channel(who.officer, channel).channel_id
        return _request_form(
            request,
            who,
            desk,
            channel_id,
            {t.item_hash.hex(): t for t in texts},
            _countered(desk, who, channel_id, counter or ""),
            error=one_line(str(exc)),
            form={k: str(v) for k, v in form.items() if not k.startswith(("mode-", "text-"))},
        )
    if not counter:
        desk.door.attention.drop_draft(
            who.officer, draft_of(desk.station.resolve(channel), "release")
        )
    return back(f"/channels/{channel}/releases")


def _request_form(
    request: Request,
    who: Any,
    desk: ReleaseDesk,
    channel_id: str,
    chosen: dict[str, ReleasedText],
    countered: ReleaseView | None,
    *,
    error: str = "",
    form: dict[str, str] | None = None,
    drafted: bool = False,
) -> HTMLResponse:
    """The request (or counter) form; after an error, with everything as it was posted;
    a new request with the officer's draft of it."""
    status = desk.door.channel(who.officer, channel_id)
    messages = [
        r.entry
        for r in desk.door.thread(who.officer, status.channel_id, who.origin)
        if isinstance(r.entry.item, Message) and r.entry.disclosure != "released"
    ]
    return page(
        request,
        "release_new.html",
        422 if error else 200,
        who=who,
        status=status,
        messages=messages,
        chosen=chosen,
        countered=countered,
        modes=MODES,
        error=error,
        form=form or {},
        drafted=drafted,
    )


@router.post("/channels/{channel}/releases/{request_id}/approve")
def approve(channel: str, request_id: str, who: CallerDep, desk: DeskDep) -> RedirectResponse:
    desk.decide(who.officer, channel, who.origin, request_id, approve=True)
    return back(f"/channels/{channel}/releases")


@router.post("/channels/{channel}/releases/{request_id}/decline")
async def decline(
    request: Request, channel: str, request_id: str, who: CallerDep, desk: DeskDep
) -> RedirectResponse:
    reason = str((await request.form()).get("reason", ""))
    desk.decide(who.officer, channel, who.origin, request_id, approve=False, reason=reason)
    return back(f"/channels/{channel}/releases")


def _originals(
    desk: ReleaseDesk, who: Any, channel_id: str, views: list[ReleaseView]
) -> dict[str, str]:
    """The original text of every item named, for side-by-side reading (audited)."""
    originals = {}
    for item_hash in {t.item_hash.hex() for v in views for t in v.texts}:
        try:  # only the items named, each checked and audited like any item shown
            entry = desk.door.item(who.officer, channel_id, item_hash, who.origin).entry
        except StationError:
            continue  # not cleared for it: the page says so
        if isinstance(entry.item, Message):
            originals[item_hash] = entry.item.text
    return originals


def _may_decide(who: Any) -> None:
    if not who.officer.may(Action.DECIDE_RELEASE):
        raise Forbidden(f"your role ({who.officer.role}) does not allow deciding on releases")


def _countered(desk: ReleaseDesk, who: Any, channel_id: str, request_id: str) -> ReleaseView | None:
    if not request_id:
        return None
    for view in desk.requests(who.officer, channel_id, who.origin):
        if view.request_id == request_id:
            return view
    raise StationError("no release request of this channel has that id")


def _texts(fields: Mapping[str, Any], picked: list[str]) -> dict[str, ReleasedText]:
    """The texts of the items picked, as a form (or its draft) gives them."""
    return {
        h: ReleasedText(
            bytes.fromhex(h),
            str(fields.get(f"mode-{h}", "verbatim")),  # type: ignore[arg-type]
            str(fields.get(f"text-{h}", "")),
        )
        for h in picked
        if _is_hash(h)
    }


def _is_hash(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
