"""The live feed of a page: server-sent events, so that nothing waits for a reload.

``GET /events`` (optionally ``?channel=…&after=…`` on a thread) streams, about once a
second and only when something changed:

- ``items``: the thread's new items, as the escaped HTML of ``_entries.html``, each
  shown through the door (audited) exactly as the polling fallback shows them;
- ``states``: where each item of the thread stands (waiting, delivered, received,
  acknowledged), as JSON keyed by the first 16 digits of its hash: no content;
- ``needs``: what needs the officer, over every channel (unread, awaiting, overdue);
- ``ended``: the session ended (signed out, expired, disabled): the page says so.

A stream lasts ``LIVE_SECONDS`` and then ends; the browser opens the next one itself
(``retry``).  Every pass re-checks the session, so a session that ends mid-stream
ends the stream within a second.  The stream is a GET: it changes nothing but the
officer's last visit, as the thread page does.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from backchannel.station.access.auth import (
    Caller,
    CallerDep,
    DoorDep,
    accounts_of,
    session_cookie,
)
from backchannel.station.access.door import Door
from backchannel.station.access.policy import Action
from backchannel.station.access.times import showing_zone
from backchannel.station.web.pages import needs_of, templates, views
from backchannel.station.web.params import LARGEST_POSITION, After, ChannelFilter

if TYPE_CHECKING:
    from backchannel.station.attachments.desk import AttachmentDesk

router = APIRouter(include_in_schema=False)
LIVE_SECONDS = 300.0  # one stream's life; the browser reconnects
EVERY = 1.0  # seconds between passes
RETRY_MS = 3000  # how long the browser waits before it reconnects
KEEP_ALIVE = 15.0  # a comment at least this often, so proxies keep the stream open


@dataclass
class Seen:
    """What the stream last told the page."""

    after: int
    token: str  # the session's cookie (empty: an API token's stream)
    states: dict[str, str] | None = None
    needs: dict[str, int] | None = None


@router.get("/events")
async def events(
    request: Request, who: CallerDep, door: DoorDep, channel: ChannelFilter = None,
    after: After = 0,
) -> StreamingResponse:  # fmt: skip
    if channel is not None:
        await run_in_threadpool(door.channel, who.officer, channel)  # 404 before streaming
    seen = Seen(max(after, resumed(request)), request.cookies.get(session_cookie(request), ""))
    stream = feed(request, who, door, channel, seen)
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


async def feed(
    request: Request, who: Caller, door: Door, channel: str | None, seen: Seen
) -> AsyncIterator[str]:
    showing_zone(who.officer.time_zone)
    yield f"retry: {RETRY_MS}\n\n"
    started = quiet = time.monotonic()
    while time.monotonic() - started < LIVE_SECONDS:
        if await request.is_disconnected():
            return
        if not await run_in_threadpool(signed_in, request, seen.token):
            yield event("ended", "your session has ended")
            return
        desk = request.app.state.attachment_desk
        told = await run_in_threadpool(one_pass, door, who, channel, seen, desk)
        for name, data in told:
            yield event(name, data)
        if told:
            quiet = time.monotonic()
        elif time.monotonic() - quiet > KEEP_ALIVE:
            yield ": still here\n\n"
            quiet = time.monotonic()
        await asyncio.sleep(EVERY)


def resumed(request: Request) -> int:
    """Where a reconnecting browser's last stream had got to (its Last-Event-ID)."""
    value = request.headers.get("last-event-id", "")
    return int(value) if value.isdigit() and int(value) <= LARGEST_POSITION else 0


@router.get("/session")
def session(who: CallerDep) -> Response:
    """204 while signed in (401 otherwise, before this runs): what the page asks when
    its live feed fails, to tell an ended session from a station that is away."""
    return Response(status_code=204)


def signed_in(request: Request, token: str) -> bool:
    """Whether the stream's session (or API token) is still good; never touches it."""
    accounts = accounts_of(request)
    if token:
        return accounts.session(token, touch=False) is not None
    bearer = request.headers.get("authorization", "")[7:].strip()
    return bool(bearer) and accounts.by_token(bearer) is not None


def one_pass(
    door: Door, who: Caller, channel: str | None, seen: Seen, desk: AttachmentDesk | None = None
) -> list[tuple[str, str]]:
    """What changed since the last pass, as (event, data) pairs; ``seen`` moves on."""
    told: list[tuple[str, str]] = []
    officer = who.officer
    if channel is not None and officer.may(Action.READ_ITEM):
        shown = door.thread(officer, channel, who.origin, after=seen.after, quote=True)
        if shown:
            status = door.channel(officer, channel)
            seen.after = max(r.entry.position for r in shown)
            door.attention.visited(officer, status.channel_id, seen.after)
            html = templates.get_template("_entries.html").render(
                who=who, entries=views(door, status, shown, officer, desk=desk), Action=Action
            )
            told.append(("items", json.dumps({"after": seen.after, "html": html})))
            told.append(("", str(seen.after)))  # the id a reconnecting browser names
        states = door.states(officer, channel)
        if states != seen.states:
            seen.states = states
            told.append(("states", json.dumps(states)))
    needs = asdict(needs_of(door, officer))
    if needs != seen.needs:
        seen.needs = needs
        told.append(("needs", json.dumps(needs)))
    return told


def event(name: str, data: str) -> str:
    """One server-sent event; ``data`` is one line (JSON or our words).  A nameless one
    sets the stream's id instead: where it has got to."""
    assert "\n" not in data
    if not name:
        return f"id: {data}\n\n"
    return f"event: {name}\ndata: {data}\n\n"
