"""The canary page: mark capacity of each item, and attribution of a leaked copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from backchannel.station.access.auth import CallerDep
from backchannel.station.canary.desk import MAX_COPY_CHARS, CanaryDeskDep
from backchannel.station.core.errors import StationError
from backchannel.station.web.pages import add_templates, page, stamp

router = APIRouter(include_in_schema=False)
add_templates(Path(__file__).parent / "templates")


@router.get("/canary")
def canary_page(request: Request, who: CallerDep, desk: CanaryDeskDep) -> HTMLResponse:
    return _page(request, who, desk)


@router.post("/canary")
async def attribute(request: Request, who: CallerDep, desk: CanaryDeskDep) -> HTMLResponse:
    form = await request.form()
    raw = str(form.get("copy", ""))
    try:
        found = desk.attribute(who.officer, raw, who.origin)
    except StationError as exc:
        return _page(request, who, desk, error=str(exc), copy=raw)
    return _page(request, who, desk, found=found, copy=raw)


def _page(request: Request, who: CallerDep, desk: CanaryDeskDep, **shown: Any) -> HTMLResponse:
    return page(
        request, "canary.html", who=who, traceable=desk.traceable(who.officer, who.origin),
        stamp=stamp, limit=MAX_COPY_CHARS, **shown,
    )  # fmt: skip
