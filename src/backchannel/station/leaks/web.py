"""The leak pages: scan a published text, the violations register, one violation with
its joint investigation, and archive search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from backchannel.analysis.leaks.page import PageError
from backchannel.station.access.auth import CallerDep
from backchannel.station.access.door import require
from backchannel.station.access.policy import Action
from backchannel.station.core.errors import InvalidRequest, StationError
from backchannel.station.leaks.desk import MAX_QUERY_CHARS, LeakDeskDep, Report
from backchannel.station.leaks.fetch import fetch
from backchannel.station.web.pages import add_templates, back, page, stamp

router = APIRouter(include_in_schema=False)
add_templates(Path(__file__).parent / "templates")
MAX_FORM_CHARS = 1024 * 1024  # what a form field holds (the CLI and the API take 4 MiB)


@router.get("/leaks")
def leaks_page(request: Request, who: CallerDep, desk: LeakDeskDep) -> HTMLResponse:
    return _page(request, who, desk)


@router.post("/leaks")
async def scan(request: Request, who: CallerDep, desk: LeakDeskDep) -> HTMLResponse:
    form = await request.form()
    raw, url = str(form.get("copy", "")), str(form.get("url", "")).strip()
    try:
        report = await run_in_threadpool(_scan, request, who, desk, raw, url)
    except StationError as exc:
        return _page(request, who, desk, error=str(exc), copy=raw, url=url)
    return _page(request, who, desk, report=report, copy=raw, url=url)


def _scan(request: Request, who: CallerDep, desk: LeakDeskDep, raw: str, url: str) -> Report:
    if url and raw.strip():
        raise InvalidRequest("give either the text or a URL, not both")
    if not url:
        return desk.scan(who.officer, raw, "pasted text", who.origin)
    require(who.officer, Action.SCAN_LEAKS)  # before anything is fetched
    allow = request.app.state.station.config.allow_private_sources
    try:
        data = fetch(url, allow)
    except PageError as exc:
        raise InvalidRequest(str(exc)) from None
    return desk.scan(who.officer, data, url, who.origin)


def _page(request: Request, who: CallerDep, desk: LeakDeskDep, **shown: Any) -> HTMLResponse:
    return page(
        request, "leaks.html", who=who, violations=desk.violations(who.officer, who.origin),
        stamp=stamp, limit=MAX_FORM_CHARS, **shown,
    )  # fmt: skip


@router.get("/leaks/violations/{violation_id}")
def violation_page(
    request: Request, violation_id: str, who: CallerDep, desk: LeakDeskDep
) -> HTMLResponse:
    case = desk.violation(who.officer, violation_id, who.origin)
    return page(request, "violation.html", who=who, case=case, v=case.violation, stamp=stamp)


@router.post("/leaks/violations/{violation_id}/ask")
async def ask(
    request: Request, violation_id: str, who: CallerDep, desk: LeakDeskDep
) -> RedirectResponse:
    note = str((await request.form()).get("note", ""))
    await run_in_threadpool(desk.ask, who.officer, violation_id, who.origin, note)
    return back(f"/leaks/violations/{violation_id}")


@router.post("/leaks/violations/{violation_id}/answer")
async def answer(
    request: Request, violation_id: str, who: CallerDep, desk: LeakDeskDep
) -> RedirectResponse:
    form = await request.form()
    await run_in_threadpool(
        lambda: desk.answer(
            who.officer, violation_id, who.origin, str(form.get("verdict", "")),
            text=str(form.get("text", "")), name_readers=form.get("name_readers") == "yes",
        )
    )  # fmt: skip
    return back(f"/leaks/violations/{violation_id}")


@router.get("/search")
def search_page(request: Request, who: CallerDep, desk: LeakDeskDep, q: str = "") -> HTMLResponse:
    if not q.strip():
        return page(request, "search.html", who=who, q="", limit=MAX_QUERY_CHARS)
    try:
        results = desk.search(who.officer, q, who.origin)
    except InvalidRequest as exc:
        return page(request, "search.html", who=who, q=q, error=str(exc), limit=MAX_QUERY_CHARS)
    return page(
        request, "search.html", who=who, q=q, results=results, stamp=stamp,
        limit=MAX_QUERY_CHARS,
    )  # fmt: skip
