"""Incident prevention on the command line: notifications of planned activity, conflicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from backchannel.protocol.notification import Notification
from backchannel.station.access.door import Rendering
from backchannel.station.core.hooks import Shown
from backchannel.station.incidents.desk import IncidentDesk
from backchannel.station.incidents.service import ConflictView, NotificationView, Plan
from backchannel.station.service import Station

from .common import HOST, AsJson, ChannelOpt, StationDir, door_of, host_caller, opened
from .languages import Authority, TextIn, tagged
from .output import fail, print_json, when

notify_app = typer.Typer(
    help="Notifications of planned activity: announce, list, show, amend, cancel, answer.",
    no_args_is_help=True,
)
MAX_GEOJSON_BYTES = 1024 * 1024
When = Annotated[datetime, typer.Option(help="ISO 8601; UTC if no zone is given.")]
Id = Annotated[str, typer.Argument(help="The notification's id, as `notify list` shows it.")]
# The options of a plan, shared by `notify new` and `notify amend`.
Kind = Annotated[str, typer.Option(help="The activity: flight, convoy, demining, …")]
GeoJson = Annotated[Path, typer.Option(help="The area: a GeoJSON geometry or Feature.")]
Radius = Annotated[int, typer.Option(help="A point's radius, in metres.")]
Width = Annotated[int, typer.Option(help="A corridor's width, in metres.")]
Buffer = Annotated[int, typer.Option(help="The safety buffer, in metres.")]
Altitude = Annotated[str, typer.Option(help="FLOOR-CEILING in metres AMSL; none: surface.")]
Margin = Annotated[int, typer.Option(help="Uncertainty of the window, in minutes.")]
Details = Annotated[list[str] | None, typer.Option(help="NAME=VALUE the kind asks for.")]
Contact = Annotated[str, typer.Option(help="Who to call about it.")]
Text = Annotated[str, typer.Option(help="Free text.")]
Clearances = Annotated[list[str] | None, typer.Option(help="A label; repeat.")]
PLAN_OPTIONS = frozenset((
    "kind", "geojson", "start", "end", "ack_by", "radius", "width", "buffer", "altitude",
    "margin", "detail", "contact", "text", "clearance", "text_language", "text_in", "authority",
))  # fmt: skip
TextLanguage = Annotated[
    str, typer.Option(help="The language of --text, when --text-in gives it in others.")
]


def _desk(s: Station) -> IncidentDesk:
    return IncidentDesk(door_of(s), s.incidents)


def _utc(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _area(path: Path) -> Any:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_GEOJSON_BYTES + 1)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    if len(data) > MAX_GEOJSON_BYTES:
        fail(f"{path}: larger than {MAX_GEOJSON_BYTES // 1024} KiB")
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        fail(f"{path}: not JSON")
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    return value


def _details(pairs: list[str] | None) -> dict[str, str]:
    found = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            fail(f"--detail {pair[:40]!r}: give NAME=VALUE")
        found[name.strip()] = value.strip()
    return found


def _plan(**given: Any) -> Plan:
    band = given.pop("altitude")
    floor = ceiling = None
    if band:
        low, sep, high = band.partition("-")
        try:
            floor, ceiling = int(low), int(high)
        except ValueError:
            fail(f"--altitude {band[:30]!r}: give FLOOR-CEILING in metres, e.g. 0-1500")
        if not sep:
            fail("--altitude: give FLOOR-CEILING in metres, e.g. 0-1500")
    return Plan(
        kind=given["kind"], area=_area(given["geojson"]), start=_utc(given["start"]),
        end=_utc(given["end"]), ack_by=_utc(given["ack_by"]), radius_m=given["radius"],
        width_m=given["width"], buffer_m=given["buffer"], floor_m=floor, ceiling_m=ceiling,
        margin_s=given["margin"] * 60, details=_details(given["detail"]),
        contact=given["contact"], text=given["text"],
        clearances=tuple(given["clearance"] or ()), text_language=given["text_language"],
        others=tagged(given["text_in"]), authority=given["authority"],
    )  # fmt: skip


@notify_app.command("new")
def new(
    station: StationDir,
    kind: Kind,
    geojson: GeoJson,
    start: When,
    end: When,
    ack_by: When,
    radius: Radius = 0,
    width: Width = 0,
    buffer: Buffer = 0,
    altitude: Altitude = "",
    margin: Margin = 0,
    detail: Details = None,
    contact: Contact = "",
    text: Text = "",
    clearance: Clearances = None,
    channel: ChannelOpt = None,
    text_language: TextLanguage = "",
    text_in: TextIn = None,
    authority: Authority = "",
) -> None:
    """Announce a planned activity; conflicts with active ones are found at once."""
    plan = _plan(**{name: value for name, value in locals().items() if name in PLAN_OPTIONS})
    with opened(station) as s:
        notification_id = _desk(s).notify(host_caller(), s.resolve(channel), HOST, plan)
        conflicts = [
            c for c in s.incidents.conflicts() if notification_id in (c.first[0], c.second[0])
        ]
    typer.echo(f"notification {notification_id} sent")
    for c in conflicts:
        typer.echo(f"CONFLICT {c.conflict_id[:16]}: {_figures(c)}")


@notify_app.command("amend")
def amend(
    notification_id: Id,
    station: StationDir,
    kind: Kind,
    geojson: GeoJson,
    start: When,
    end: When,
    ack_by: When,
    radius: Radius = 0,
    width: Width = 0,
    buffer: Buffer = 0,
    altitude: Altitude = "",
    margin: Margin = 0,
    detail: Details = None,
    contact: Contact = "",
    text: Text = "",
    clearance: Clearances = None,
    channel: ChannelOpt = None,
    text_language: TextLanguage = "",
    text_in: TextIn = None,
    authority: Authority = "",
) -> None:
    """Send the next version of one of our notifications (every version is kept)."""
    plan = _plan(**{name: value for name, value in locals().items() if name in PLAN_OPTIONS})
    with opened(station) as s:
        version = _desk(s).amend(host_caller(), s.resolve(channel), HOST, notification_id, plan)
    typer.echo(f"notification {notification_id} amended: version {version}")


@notify_app.command("cancel")
def cancel(
    notification_id: Id,
    station: StationDir,
    reason: Annotated[str, typer.Option(help="Why, for the counterpart.")] = "",
    channel: ChannelOpt = None,
) -> None:
    """Cancel one of our notifications; its conflicts are cleared at both stations."""
    with opened(station) as s:
        _desk(s).cancel(host_caller(), s.resolve(channel), HOST, notification_id, reason)
    typer.echo(f"notification {notification_id} cancelled")


@notify_app.command("ack")
def ack(notification_id: Id, station: StationDir, channel: ChannelOpt = None) -> None:
    """Answer the counterpart's notification: received and noted (it approves nothing)."""
    with opened(station) as s:
        _desk(s).answer(host_caller(), s.resolve(channel), HOST, notification_id, answer="ack")
    typer.echo("answered: received and noted")


@notify_app.command("concern")
def concern(
    notification_id: Id,
    station: StationDir,
    text: Annotated[str, typer.Option(help="What the concern is.")],
    channel: ChannelOpt = None,
) -> None:
    """Answer the counterpart's notification with a concern."""
    with opened(station) as s:
        _desk(s).answer(
            host_caller(), s.resolve(channel), HOST, notification_id, answer="concern", text=text
        )
    typer.echo("answered: a concern")


@notify_app.command("list")
def list_(station: StationDir, channel: ChannelOpt = None, as_json: AsJson = False) -> None:
    """The notifications of both sides, by start."""
    with opened(station) as s:
        views = _desk(s).notifications(host_caller(), s.resolve(channel), HOST)
    if as_json:
        print_json([_notification_json(v) for v in views])
        return
    if not views:
        typer.echo("no notification")
    for v in views:
        t = v.terms
        late = "  LATE" if t["late"] else ""
        answer = {"": "no answer yet", "ack": "noted", "concern": "a concern"}[v.answer]
        typer.echo(f"{v.notification_id}  {'ours' if v.origin == 'us' else 'theirs':<6} "
                   f"{t['kind']:<22} {when(t['start'])} → {when(t['end'])}  v{v.version} "
                   f"{v.state}, {answer}{late}")  # fmt: skip


@notify_app.command("show")
def show(
    notification_id: Id, station: StationDir, channel: ChannelOpt = None, as_json: AsJson = False
) -> None:
    """Every version of a notification, with what changed between them, and its answers."""
    with opened(station) as s:
        renderings = _desk(s).versions(host_caller(), s.resolve(channel), HOST, notification_id)
        hooks = s.hooks
    if as_json:
        print_json([{"item_hash": r.entry.envelope_hash, "item_type": r.entry.item_type,
                     "item": r.entry.item} for r in renderings])  # fmt: skip
        return
    previous: Notification | None = None
    for r in renderings:
        item = r.entry.item
        typer.echo(f"{when(r.entry.created_at)}  {hooks.item(item).describe(item, _shown(r))}")
        if isinstance(item, Notification):
            for line in _changes(previous, item):
                typer.echo(f"    {line}")
            previous = item


def conflicts(
    station: StationDir,
    channel: ChannelOpt = None,
    cleared: Annotated[
        bool, typer.Option(help="Also those cleared by an amend or cancel.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """The conflicts between announced activities, as both stations compute them."""
    with opened(station) as s:
        found = _desk(s).conflicts(host_caller(), s.resolve(channel), HOST, cleared)
    if as_json:
        print_json([_conflict_json(c) for c in found])
        return
    if not found:
        typer.echo("no conflict")
    for c in found:
        us, them = ("yes" if done else "no" for done in (c.acked_us, c.acked_them))
        acked = f"acknowledged: us {us}, them {them}"
        typer.echo(f"{c.conflict_id[:16]}  {c.state}  {_figures(c)}; {acked}; by {when(c.ack_by)}")


def conflict_ack(
    conflict_id: Annotated[
        str, typer.Argument(help="The conflict's id, as `conflicts --json` shows it.")
    ],
    station: StationDir,
    note: Annotated[str, typer.Option(help="A note for the counterpart.")] = "",
    channel: ChannelOpt = None,
) -> None:
    """Acknowledge a conflict (both sides must)."""
    with opened(station) as s:
        _desk(s).acknowledge(host_caller(), s.resolve(channel), HOST, conflict_id, note)
    typer.echo("conflict acknowledged")


def _figures(c: ConflictView) -> str:
    f = c.figures
    where = (f"overlap of {f['overlap_km2']:g} km²" if f["kind"] == "overlap"
             else f"{f['separation_m']} m apart")  # fmt: skip
    crossing = " (the announcements crossed)" if f["crossing"] else ""
    return f"{where} from {when(f['start'])} to {when(f['end'])}{crossing}"


def _notification_json(v: NotificationView) -> dict[str, Any]:
    t = v.terms
    return {
        "notification_id": v.notification_id, "channel": v.channel_id, "origin": v.origin,
        "version": v.version, "state": v.state, "item_hash": v.item_hash, "answer": v.answer,
        "kind": t["kind"], "area": t["geojson"], "start": _iso(t["start"]),
        "end": _iso(t["end"]), "ack_by": _iso(t["ack_by"]), "late": t["late"],
        "floor_m": t["floor_m"], "ceiling_m": t["ceiling_m"], "buffer_m": t["buffer_m"],
    }  # fmt: skip


def _conflict_json(c: ConflictView) -> dict[str, Any]:
    f = c.figures
    return {
        "conflict_id": c.conflict_id, "channel": c.channel_id, "state": c.state,
        "notifications": [{"notification_id": i, "version": v} for i, v in (c.first, c.second)],
        "kind": f["kind"], "start": _iso(f["start"]), "end": _iso(f["end"]),
        "overlap_km2": f["overlap_km2"], "separation_m": f["separation_m"],
        "overlap": f["overlap"], "crossing": f["crossing"], "acknowledged_by_us": c.acked_us,
        "acknowledged_by_them": c.acked_them, "ack_by": _iso(c.ack_by),
    }  # fmt: skip


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _shown(r: Rendering) -> Shown:
    return Shown(ours=r.entry.direction == "out")


def _changes(previous: Notification | None, item: Notification) -> list[str]:
    """What a version changed, field by field (a new notification: nothing)."""
    if previous is None:
        return []
    skip = {"version", "sent_at", "seen"}
    return [
        f"{name}: {str(getattr(previous, name))[:60]} → {str(getattr(item, name))[:60]}"
        for name in item.__struct_fields__
        if name not in skip and getattr(previous, name) != getattr(item, name)
    ]
