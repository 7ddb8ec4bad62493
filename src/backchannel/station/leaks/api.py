"""Leak scans, the violations register and archive search in the officer API (``/api/v1``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from backchannel.analysis.leaks.page import MAX_PAGE_BYTES
from backchannel.station.access.auth import CallerDep
from backchannel.station.core.records import to_json
from backchannel.station.leaks.desk import MAX_QUERY_CHARS, MAX_SOURCE_NAME, LeakDeskDep
from backchannel.station.leaks.views import report_json
from backchannel.station.web.params import ERRORS

router = APIRouter(prefix="/api/v1", responses=ERRORS)


class ScanIn(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_PAGE_BYTES)
    html: bool | None = None  # None: decided by how the text starts
    source: str = Field(default="api", max_length=MAX_SOURCE_NAME)


@router.post("/leaks/scan")
async def scan(body: ScanIn, who: CallerDep, desk: LeakDeskDep) -> dict[str, Any]:
    """Which items a published text discloses (JSON as ``leaks scan --json``)."""
    report = await run_in_threadpool(
        desk.scan, who.officer, body.text, body.source, who.origin, body.html
    )
    return report_json(report)


@router.get("/leaks/violations")
def violations(who: CallerDep, desk: LeakDeskDep) -> list[Any]:
    return list(to_json(desk.violations(who.officer, who.origin)))


@router.get("/search")
def search(q: str, who: CallerDep, desk: LeakDeskDep) -> list[dict[str, Any]]:
    """The archive by words, phrases and meaning; each sentence as the caller's own copy."""
    if len(q) > MAX_QUERY_CHARS:
        q = q[: MAX_QUERY_CHARS + 1]  # the desk refuses it in one line
    return [
        {"item_hash": r.hit.item_hash, "channel": r.hit.channel_id, "part": r.hit.part,
         "item_type": r.hit.item_type, "score": r.hit.score, "sentence": r.sentence}
        for r in desk.search(who.officer, q, who.origin)
    ]  # fmt: skip
