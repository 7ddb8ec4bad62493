"""The notifications register and the conflicts, kept in step with the transcript.

Each notification item recorded (sent or received) becomes the latest version of its
row, and is checked at once, in the same transaction, against every other active
notification of the channel, ours and the counterpart's (``ActiveSet``: the index,
then the exact check).  Conflicts of its earlier version are cleared.  A cancel clears
its conflicts too.  The check uses only what the two items say, so both stations find
the same conflicts under the same ids (``conflict_id``) once they hold the same items.

What the peer sends is taken only when it fits: version 1 of a new id, or the next
version of one of *its* notifications that is still active; a cancel of its own latest
version; an answer to one of *ours*; an acknowledgement of a conflict we hold.
Anything else stays in the transcript and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

import shapely
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from backchannel.analysis.incidents import ActiveSet, Activity, AreaError, Limits, parse_area
from backchannel.protocol.notification import Notification, NotificationAnswer, conflict_id
from backchannel.store.incidents import ConflictRow, NotificationRow

CONFLICT_ACK_S = 3600  # a conflict is owed an acknowledgement within this of the later item
CLOCK_SKEW_S = 3600  # a sent time further ahead of our clock than this is clamped to it
# What a station takes from its peer: the protocol's limits, not its own (which it
# applies to what it sends), so that both stations read every item alike.
PEER_LIMITS = Limits(max_vertices=10_000, max_area_km2=250_000.0)


def terms_of(item: Notification) -> dict[str, Any]:
    """What the register keeps of a version (sealed): what the check and the list need."""
    return {
        "kind": item.kind, "geojson": item.geojson(), "radius_m": item.radius_m,
        "width_m": item.width_m, "buffer_m": item.buffer_m, "floor_m": item.floor_m,
        "ceiling_m": item.ceiling_m, "start": item.start.timestamp(),
        "end": item.end.timestamp(), "margin_s": item.margin_s, "warning_m": item.warning_m,
        "ack_by": item.ack_by.timestamp(), "sent_at": item.sent_at.timestamp(),
        "notice_s": item.notice_s, "seen": [[i.hex(), v] for i, v in item.seen],
        "late": item.start.timestamp() - item.sent_at.timestamp() < item.notice_s,
    }  # fmt: skip


def activity_of(key: str, version: int, terms: dict[str, Any]) -> Activity:
    """The version as the check reads it; AreaError if its area cannot be read."""
    area = parse_area(
        terms["geojson"], radius_m=terms["radius_m"], width_m=terms["width_m"],
        buffer_m=terms["buffer_m"], limits=PEER_LIMITS,
    )  # fmt: skip
    margin = terms["margin_s"]
    return Activity(key, version, area, terms["start"] - margin, terms["end"] + margin,
                    terms["floor_m"], terms["ceiling_m"])  # fmt: skip


def record(
    s: Session, now: float, *, channel_id: str, origin: str, item: Notification, item_hash: str
) -> None:
    """A version sent (``origin`` "us") or received ("them"), if it fits."""
    key = item.notification_id.hex()
    row = s.get(NotificationRow, key)
    if row is None and item.version != 1:
        return
    if row is not None and (
        row.channel_id != channel_id or row.origin != origin or row.state != "active"
        or item.version != row.version + 1
    ):  # fmt: skip
        return
    terms = terms_of(item)
    if terms["sent_at"] > now + CLOCK_SKEW_S:  # a sender's clock far ahead: its time is ours
        terms["sent_at"] = now
        terms["late"] = terms["start"] - now < terms["notice_s"]
    if row is None:
        row = NotificationRow(notification_id=key, channel_id=channel_id, origin=origin)
        s.add(row)
    row.version, row.item_hash, row.ack_by, row.answer = (
        item.version,
        item_hash,
        terms["ack_by"],
        "",
    )
    row.clearances, row.terms = " ".join(item.clearances), json.dumps(terms)
    row.state = "active"
    clear(s, key)
    try:
        activity = activity_of(key, item.version, terms)
    except AreaError:  # a peer's area that cannot be read: kept, checked against nothing
        row.state = "unreadable"
        return
    s.flush()
    _check(s, now, row, activity, terms)


def cancel(s: Session, channel_id: str, origin: str, notification_id: bytes, version: int) -> None:
    row = s.get(NotificationRow, notification_id.hex())
    if row is None or (row.channel_id, row.origin, row.version) != (channel_id, origin, version):
        return
    row.state = "cancelled"
    clear(s, row.notification_id)


def answer(s: Session, channel_id: str, answerer: str, item: NotificationAnswer) -> None:
    """An answer, by the side that did not announce it, to its latest version."""
    row = s.get(NotificationRow, item.notification_id.hex())
    if row is None or row.channel_id != channel_id or row.version != item.version:
        return
    if row.origin != answerer:
        row.answer = item.answer


def acknowledge_conflict(s: Session, channel_id: str, by: str, conflict: bytes) -> None:
    row = s.get(ConflictRow, conflict.hex())
    if row is None or row.channel_id != channel_id or row.state != "open":
        return
    if by == "us":
        row.acked_us = True
    else:
        row.acked_them = True


def clear(s: Session, key: str) -> None:
    """Every open conflict of any version of this notification is cleared."""
    query = select(ConflictRow).where(
        ConflictRow.state == "open", or_(ConflictRow.first_id == key, ConflictRow.second_id == key)
    )
    for row in s.scalars(query):
        row.state = "cleared"


def _check(s: Session, now: float, row: NotificationRow, activity: Activity,
           terms: dict[str, Any]) -> None:  # fmt: skip
    others = s.scalars(
        select(NotificationRow).where(
            NotificationRow.channel_id == row.channel_id, NotificationRow.state == "active",
            NotificationRow.notification_id != row.notification_id,
        )
    ).all()  # fmt: skip
    if not others:
        return
    held = {o.notification_id: (o, json.loads(o.terms)) for o in others}
    index = ActiveSet(max([terms["warning_m"]] + [t["warning_m"] for _o, t in held.values()]))
    for key, (other, other_terms) in held.items():
        index.add(activity_of(key, other.version, other_terms))
    for meeting in index.check(activity):
        other_key = (
            meeting.second[0] if meeting.first[0] == row.notification_id else meeting.first[0]
        )
        other, other_terms = held[other_key]
        warning = max(terms["warning_m"], other_terms["warning_m"])
        if meeting.kind == "proximity" and meeting.separation_m > warning:
            continue  # within the index's widest warning, not this pair's
        _add_conflict(s, now, (row, terms), (other, other_terms), meeting)


Held = tuple[NotificationRow, dict[str, Any]]  # a row and its terms


def _add_conflict(s: Session, now: float, mine: Held, theirs: Held, meeting: Any) -> None:
    (row, terms), (other, other_terms) = mine, theirs
    name = conflict_id(
        (bytes.fromhex(meeting.first[0]), meeting.first[1]),
        (bytes.fromhex(meeting.second[0]), meeting.second[1]),
    ).hex()
    if s.get(ConflictRow, name) is not None:
        return
    ack_by = max(min(terms["ack_by"], other_terms["ack_by"]),
                 max(terms["sent_at"], other_terms["sent_at"]) + CONFLICT_ACK_S)  # fmt: skip
    crossing = row.origin != other.origin and not (
        any(i == other.notification_id for i, _v in terms["seen"])
        or any(i == row.notification_id for i, _v in other_terms["seen"])
    )
    figures = {
        "kind": meeting.kind, "start": meeting.start, "end": meeting.end,
        "overlap_km2": round(meeting.overlap_m2 / 1e6, 3), "separation_m": meeting.separation_m,
        "overlap": shapely_geojson(meeting.overlap), "crossing": crossing,
    }  # fmt: skip
    labels = sorted(set(row.clearances.split()) | set(other.clearances.split()))
    s.add(ConflictRow(
        conflict_id=name, channel_id=row.channel_id, first_id=meeting.first[0],
        first_version=meeting.first[1], second_id=meeting.second[0],
        second_version=meeting.second[1], state="open", acked_us=False, acked_them=False,
        ack_by=ack_by, detected_at=now, clearances=" ".join(labels), figures=json.dumps(figures),
    ))  # fmt: skip


def shapely_geojson(shape: Any) -> dict[str, Any] | None:
    """An overlap as GeoJSON, to the micro-degree."""
    if shape is None:
        return None
    found: dict[str, Any] = json.loads(shapely.to_geojson(shapely.set_precision(shape, 1e-6)))
    return found
