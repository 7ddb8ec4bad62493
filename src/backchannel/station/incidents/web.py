"""The incidents page: a map and a list of both sides' notifications, the conflicts, a
form to announce an activity, and the buttons that answer and acknowledge.

The map (``static/map.js``, with Leaflet and the Natural Earth outlines vendored under
``static/vendor/``) draws what the page hands it in a JSON block; the same notifications
and conflicts are in the tables below it, for anyone who cannot use a map.  What is
shown is what the desk gives: filtered by labels and audited.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup
from starlette.datastructures import UploadFile

from backchannel.analysis.incidents import AreaError
from backchannel.analysis.incidents.area import outline
from backchannel.station.access.auth import CallerDep, DoorDep
from backchannel.station.access.door import require
from backchannel.station.access.policy import Action
from backchannel.station.core.errors import InvalidRequest, StationError
from backchannel.station.incidents.desk import IncidentDesk
from backchannel.station.incidents.register import activity_of, shapely_geojson
from backchannel.station.incidents.service import ConflictView, NotificationView, Plan
from backchannel.station.web.pages import add_templates, back, page, stamp

router = APIRouter(include_in_schema=False)
add_templates(Path(__file__).parent / "templates")
MAX_GEOJSON_BYTES = 512 * 1024


def desk_of(request: Request) -> IncidentDesk:
    desk: IncidentDesk = request.app.state.incident_desk
    return desk


@router.get("/channels/{channel}/incidents")
def incidents_page(request: Request, channel: str, who: CallerDep, door: DoorDep) -> HTMLResponse:
    return _page(request, channel, who, door)


@router.post("/channels/{channel}/incidents")
async def announce(request: Request, channel: str, who: CallerDep, door: DoorDep) -> Any:
    require(who.officer, Action.SEND_ITEM)  # before the form is read
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    try:
        upload = form.get("file")
        area = await _area(
            fields.get("geojson", ""), upload if isinstance(upload, UploadFile) else None
        )
        desk_of(request).notify(who.officer, channel, who.origin, _plan(fields, area))
    except StationError as exc:
        return _page(request, channel, who, door, error=str(exc), form=fields, status_code=422)
    return back(f"/channels/{channel}/incidents")


@router.post("/channels/{channel}/incidents/{notification_id}/answer")
async def answer(
    request: Request, channel: str, notification_id: str, who: CallerDep
) -> RedirectResponse:
    form = await request.form()
    desk_of(request).answer(
        who.officer, channel, who.origin, notification_id[:32],
        answer=str(form.get("answer", "")), text=str(form.get("text", "")),
    )  # fmt: skip
    return back(f"/channels/{channel}/incidents")


@router.post("/channels/{channel}/incidents/{notification_id}/cancel")
async def cancel(
    request: Request, channel: str, notification_id: str, who: CallerDep
) -> RedirectResponse:
    reason = str((await request.form()).get("reason", ""))
    desk_of(request).cancel(who.officer, channel, who.origin, notification_id[:32], reason)
    return back(f"/channels/{channel}/incidents")


@router.post("/channels/{channel}/conflicts/{conflict_id}/ack")
async def acknowledge(
    request: Request, channel: str, conflict_id: str, who: CallerDep
) -> RedirectResponse:
    note = str((await request.form()).get("note", ""))
    desk_of(request).acknowledge(who.officer, channel, who.origin, conflict_id[:64], note)
    return back(f"/channels/{channel}/incidents")


def _page(
    request: Request, channel: str, who: CallerDep, door: DoorDep, status_code: int = 200,
    **shown: Any,
) -> HTMLResponse:  # fmt: skip
    status = door.channel(who.officer, channel)
    desk = desk_of(request)
    notifications = desk.notifications(who.officer, status.channel_id, who.origin)
    conflicts = desk.conflicts(who.officer, status.channel_id, who.origin)
    kinds = desk.station.config.deconfliction.kinds
    return page(
        request, "incidents.html", status_code, who=who, status=status,
        notifications=notifications, conflicts=conflicts, kinds=kinds, stamp=stamp,
        map_data=script_json(map_data(notifications, conflicts)), **shown,
    )  # fmt: skip


def script_json(value: Any) -> Markup:
    """JSON to put inside a ``<script type="application/json">``: no ``<``, ``>`` or
    ``&`` left in it, so nothing can close the element or open another."""
    text = json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e")
    return Markup(text.replace("&", "\\u0026"))  # noqa: S704 (nothing left to escape)


def map_data(
    notifications: list[NotificationView], conflicts: list[ConflictView]
) -> dict[str, Any]:
    """What the map draws: GeoJSON features (no free text: kinds, sides, times, states)."""
    features = [
        {"type": "Feature", "geometry": _outline(n),
         "properties": {"id": n.notification_id, "role": "notification", "origin": n.origin,
                        "kind": n.terms["kind"], "state": n.state, "start": n.terms["start"],
                        "end": n.terms["end"], "reach_m": _reach(n)}}
        for n in notifications if n.state == "active"
    ]  # fmt: skip
    features += [
        {"type": "Feature", "geometry": c.figures["overlap"],
         "properties": {"id": c.conflict_id, "role": "conflict", "start": c.figures["start"],
                        "end": c.figures["end"], "kind": c.figures["kind"]}}
        for c in conflicts if c.figures["overlap"] is not None
    ]  # fmt: skip
    return {"type": "FeatureCollection", "features": features}


def _reach(n: NotificationView) -> float:
    t = n.terms
    return float(t["radius_m"] + t["buffer_m"] + t["width_m"] / 2)


def _outline(n: NotificationView) -> Any:
    """The footprint the conflicts are computed on, in degrees (the area as given if
    it cannot be read)."""
    try:
        return shapely_geojson(outline(activity_of(n.notification_id, n.version, n.terms).area))
    except AreaError:
        return n.terms["geojson"]


async def _area(text: str, upload: UploadFile | None) -> Any:
    data = text.encode()
    if upload is not None and upload.filename:
        data = await upload.read(MAX_GEOJSON_BYTES + 1)
    if not data.strip():
        raise InvalidRequest("give the area: paste GeoJSON or choose a .geojson file")
    if len(data) > MAX_GEOJSON_BYTES:
        raise InvalidRequest(f"the GeoJSON is larger than {MAX_GEOJSON_BYTES // 1024} KiB")
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        raise InvalidRequest("the area is not GeoJSON (it does not read as JSON)") from None
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    return value


def _plan(fields: dict[str, str], area: Any) -> Plan:
    def number(name: str) -> int:
        raw = fields.get(name, "").strip() or "0"
        try:
            return int(raw)
        except ValueError:
            raise InvalidRequest(f"the {name.replace('_', ' ')} is a whole number") from None

    floor = ceiling = None
    if fields.get("airborne") == "yes":
        floor, ceiling = number("floor_m"), number("ceiling_m")
    details = {}
    for line in fields.get("details", "").splitlines():
        name, sep, value = line.partition("=")
        if line.strip() and not sep:
            raise InvalidRequest("give each detail as NAME=VALUE on its own line")
        if sep:
            details[name.strip()] = value.strip()
    return Plan(
        kind=fields.get("kind", ""), area=area, start=_when(fields, "start"),
        end=_when(fields, "end"), ack_by=_when(fields, "ack_by"), radius_m=number("radius_m"),
        width_m=number("width_m"), buffer_m=number("buffer_m"), floor_m=floor,
        ceiling_m=ceiling, margin_s=number("margin_min") * 60, details=details,
        contact=fields.get("contact", ""), text=fields.get("text", ""),
    )  # fmt: skip


def _when(fields: dict[str, str], name: str) -> datetime:
    raw = fields.get(name, "").strip()
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        what = {"ack_by": "date an answer is asked for"}.get(name, name)
        raise InvalidRequest(f"the {what} is a date and time such as 2026-12-08T06:00") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
