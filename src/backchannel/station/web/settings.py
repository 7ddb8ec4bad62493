"""An officer's own: their settings (time zone, display name) and their drafts.

A draft is kept as the officer types (app.js posts the form's fields a moment after
the last keystroke) and given back when they open the form again; sending drops it.
Only the forms named in ``DRAFTED`` are kept, and only for the officer who typed them.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from backchannel.station.access.attention import time_zones
from backchannel.station.access.auth import CallerDep, DoorDep
from backchannel.station.core.errors import InvalidRequest, StationError
from backchannel.station.web.pages import Text, back, page

router = APIRouter(include_in_schema=False)
# The forms whose drafts are kept: a channel's compose, new-proposal and release-request
# forms, and the answer to one version of a proposal (see ``draft_name``).
DRAFTED = re.compile(r"(?:compose|proposal|release):[0-9a-f]{32}|answer:[0-9a-f]{32}\.[0-9]{1,4}")
NOT_FIELDS = frozenset({"csrf", "form_token"})


@router.get("/settings")
def settings_page(request: Request, who: CallerDep, door: DoorDep, saved: str = "") -> HTMLResponse:
    return settings(request, who, door, saved=saved == "1")


def settings(
    request: Request, who: CallerDep, door: DoorDep, error: str = "", saved: bool = False
) -> HTMLResponse:
    mine = door.attention.settings(who.officer)
    zone, name = mine.time_zone, mine.display_name
    return page(
        request,
        "settings.html",
        422 if error else 200,
        who=who,
        zone_chosen=zone,
        display_name=name,
        languages_chosen=", ".join(mine.languages),
        zones=sorted(time_zones()),
        shares=door.station.config.share_names,
        error=error,
        saved=saved,
    )


@router.post("/settings")
def save_settings(
    request: Request, who: CallerDep, door: DoorDep, time_zone: Text, display_name: Text = "",
    *, languages: Annotated[str | None, Form()] = None,
) -> Response:  # fmt: skip
    try:
        door.attention.settle(who.officer, time_zone, display_name or who.officer.name, languages)
    except StationError as exc:
        return settings(request, who, door, error=str(exc))
    return back("/settings?saved=1")


@router.post("/drafts/{form}")
async def keep_draft(request: Request, form: str, who: CallerDep, door: DoorDep) -> Response:
    """Keep what the officer has typed into a form so far (204), or refuse in one line."""
    if not DRAFTED.fullmatch(form):
        raise InvalidRequest("no draft is kept of that form")
    posted = await request.form()
    fields: dict[str, str] = {}
    for key, value in posted.multi_items():  # checkboxes: their values, space-separated
        if key not in NOT_FIELDS:
            fields[key] = f"{fields[key]} {value}" if key in fields else str(value)
    await run_in_threadpool(door.attention.keep_draft, who.officer, form, _kept(form, fields))
    return Response(status_code=204)


def _kept(form: str, fields: dict[str, str]) -> dict[str, str]:
    """What is worth keeping: a release request shows every message of the channel with
    its public text, and keeps those of the items chosen only."""
    if not form.startswith("release:"):
        return fields
    chosen = set(fields.get("item", "").split())
    return {
        k: v
        for k, v in fields.items()
        if not k.startswith(("mode-", "text-")) or k.split("-", 1)[1] in chosen
    }
