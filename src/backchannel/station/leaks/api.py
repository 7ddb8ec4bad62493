"""Leak scans, the violations register and archive search in the officer API (``/api/v1``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from backchannel.analysis.leaks.page import MAX_PAGE_BYTES
from backchannel.protocol.investigation import Verdict
from backchannel.protocol.items import MAX_TEXT_CHARS
from backchannel.station.access.auth import CallerDep
from backchannel.station.core.records import to_json
from backchannel.station.leaks.desk import MAX_QUERY_CHARS, MAX_SOURCE_NAME, LeakDeskDep
from backchannel.station.leaks.views import case_json, report_json
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


class AskIn(BaseModel):
    note: str = Field(default="", max_length=MAX_TEXT_CHARS)


class FindingIn(BaseModel):
    verdict: Verdict
    text: str = Field(default="", max_length=MAX_TEXT_CHARS)
    name_readers: bool = False  # name the readers our canary marks point to


@router.get("/leaks/violations/{violation_id}")
def violation(violation_id: str, who: CallerDep, desk: LeakDeskDep) -> dict[str, Any]:
    """One violation, its joint investigation and the findings of both sides."""
    return case_json(desk.violation(who.officer, violation_id[:64], who.origin))


@router.post("/leaks/violations/{violation_id}/ask")
async def ask(violation_id: str, body: AskIn, who: CallerDep, desk: LeakDeskDep) -> list[str]:
    """Send the published text to the counterpart for investigation; the ids sent."""
    return await run_in_threadpool(desk.ask, who.officer, violation_id[:64], who.origin, body.note)


@router.post("/leaks/violations/{violation_id}/finding")
async def finding(
    violation_id: str, body: FindingIn, who: CallerDep, desk: LeakDeskDep
) -> dict[str, Any]:
    """Our finding on a text the counterpart asked about, sent to it."""
    case = await run_in_threadpool(
        lambda: desk.answer(
            who.officer, violation_id[:64], who.origin, body.verdict, text=body.text,
            name_readers=body.name_readers,
        )
    )  # fmt: skip
    return case_json(case)


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
