"""Incident prevention: notifications of planned activity, their answers, and conflicts.

A *notification* announces an activity: its kind (with kind-specific details), its area
(a GeoJSON geometry, with a radius for points, a width for corridors and a safety
buffer), an altitude band in metres above mean sea level (none: on the surface), a time
window in UTC with an uncertainty margin, contact details, free text, the date by which
an answer is asked for and the kind's minimum notice at the sender.  An *amend* is the
same notification with the next version; a *cancel* ends it.  Every version stays in
the transcript.  It also names the counterpart's notifications (id and version) its
station held as active when it was sent, so that two announcements that crossed are
seen as such.

The answer to a notification is an *acknowledgement* ("received and noted": it
approves nothing) or a *concern*, with text.  A *conflict* is never sent: each station
computes it from the transcript (``conflict_id`` names it the same at both); what is
sent is each side's acknowledgement of it.

Coordinates travel as whole micro-degrees (about 0.1 m), flattened: ``rings`` holds
sequences ``lon, lat, lon, lat, …`` and ``parts`` the number of rings of each part, so
that a polygon of 10,000 vertices fits in one item.  ``geojson`` and ``from_geojson``
convert.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import msgspec

from .items import (
    HASH_BYTES,
    MAX_TEXT_CHARS,
    Deadline,
    Hash,
    Item,
    check_clearances,
    register_item_type,
)
from .kdf import digest
from .languages import MAX_LANGUAGES, MAX_TAG_CHARS, Text, check_texts

NotificationId = Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
Answer = Literal["ack", "concern"]
SHAPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
MICRO = 1_000_000
MAX_VERTICES = 10_000
MAX_DETAILS = 32
MAX_DETAIL_CHARS = 2000
MAX_SEEN = 1000
MAX_METRES = 500_000
MAX_ALTITUDE_M = 100_000
_KIND_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


class Notification(Item, frozen=True):
    item_type: ClassVar[str] = "notification"

    notification_id: NotificationId
    version: int
    kind: str
    shape: str  # the GeoJSON type
    rings: tuple[tuple[int, ...], ...]  # micro-degrees, lon, lat, lon, lat, …
    parts: tuple[int, ...]  # rings per part
    start: Deadline
    end: Deadline
    ack_by: Deadline
    sent_at: Deadline  # the sender's clock
    radius_m: int = 0
    width_m: int = 0
    buffer_m: int = 0
    floor_m: int | None = None  # both None: on the surface
    ceiling_m: int | None = None
    margin_s: int = 0  # uncertainty, on both ends of the window
    warning_m: int = 0  # the sender's warning distance (a pair uses the larger)
    notice_s: int = 0  # the kind's minimum notice at the sender
    details: tuple[tuple[str, str], ...] = ()
    contact: str = ""
    text: str = ""
    seen: tuple[tuple[NotificationId, int], ...] = ()
    clearances: tuple[str, ...] = ()
    # The free text in several languages (``languages.py``): the language of ``text``
    # ("" in a notification of one text, read as English), the text in other languages,
    # and which prevails.  At the end, with defaults: older notifications still decode.
    text_language: Annotated[str, msgspec.Meta(max_length=MAX_TAG_CHARS)] = ""
    others: Annotated[tuple[Text, ...], msgspec.Meta(max_length=MAX_LANGUAGES - 1)] = ()
    authority: Annotated[str, msgspec.Meta(max_length=MAX_TAG_CHARS)] = ""

    def texts(self) -> tuple[Text, ...]:
        """Every text of its free text, ``text`` first; none without a text."""
        first = Text(self.text_language or "en", self.text)
        return (first, *self.others) if self.text else ()

    def validate(self) -> None:  # noqa: PLR0912 (one rule a line, in the order of the fields)
        check_clearances(self.clearances)
        if self.text_language or self.others or self.authority:
            if not self.text:
                raise ValueError("a notification's text in other languages needs its text")
            check_texts(self.texts(), self.authority, max_chars=MAX_TEXT_CHARS,
                        what="notification text")  # fmt: skip
        if not 1 <= self.version <= 10_000:
            raise ValueError("a notification's version is 1 to 10,000")
        if not (0 < len(self.kind) <= 40 and set(self.kind) <= _KIND_CHARS):
            raise ValueError("the activity kind is 1 to 40 lower-case letters, digits and '-'")
        if self.shape not in SHAPES:
            raise ValueError(f"the area is one of: {', '.join(SHAPES)}")
        vertices = sum(len(r) for r in self.rings) // 2
        if any(len(r) % 2 for r in self.rings) or vertices > MAX_VERTICES:
            raise ValueError(f"the area has at most {MAX_VERTICES:,} vertices, each lon, lat")
        if not self.parts or any(p < 1 for p in self.parts) or sum(self.parts) != len(self.rings):
            raise ValueError("the area's parts do not add up to its rings")
        if not self.start < self.end:
            raise ValueError("the time window's start is before its end")
        for what, value in (("radius", self.radius_m), ("width", self.width_m),
                            ("buffer", self.buffer_m)):  # fmt: skip
            if not 0 <= value <= MAX_METRES:
                raise ValueError(f"the {what} is 0 to {MAX_METRES:,} metres")
        if (self.floor_m is None) != (self.ceiling_m is None):
            raise ValueError("an altitude band has a floor and a ceiling, or neither (surface)")
        band = (self.floor_m, self.ceiling_m)
        if (
            band[0] is not None
            and band[1] is not None
            and not (-1000 <= band[0] <= band[1] <= MAX_ALTITUDE_M)
        ):
            raise ValueError("the altitude band's floor is at or below its ceiling")
        if not 0 <= self.margin_s <= 7 * 86_400 or not 0 <= self.notice_s <= 90 * 86_400:
            raise ValueError("the margin is at most 7 days and the notice at most 90")
        if len(self.details) > MAX_DETAILS or any(
            not k or len(k) > 40 or len(v) > MAX_DETAIL_CHARS for k, v in self.details
        ):
            raise ValueError(f"at most {MAX_DETAILS} details, each a name and a short text")
        if len(self.contact) > MAX_DETAIL_CHARS or len(self.text) > MAX_TEXT_CHARS:
            raise ValueError("the contact or the text is too long")
        if len(self.seen) > MAX_SEEN:
            raise ValueError(f"a notification names at most {MAX_SEEN} others it had seen")

    def geojson(self) -> dict[str, Any]:
        return geojson(self.shape, self.rings, self.parts)


class NotificationCancel(Item, frozen=True):
    item_type: ClassVar[str] = "notification-cancel"

    notification_id: NotificationId
    version: int  # the version cancelled (the latest)
    reason: str = ""

    def validate(self) -> None:
        if len(self.reason) > MAX_TEXT_CHARS:
            raise ValueError(f"the reason is longer than {MAX_TEXT_CHARS} characters")


class NotificationAnswer(Item, frozen=True):
    item_type: ClassVar[str] = "notification-answer"

    notification_id: NotificationId
    version: int
    answer: Answer
    text: str = ""

    def validate(self) -> None:
        if self.answer == "concern" and not self.text.strip():
            raise ValueError("a concern says what it is")
        if len(self.text) > MAX_TEXT_CHARS:
            raise ValueError(f"the text is longer than {MAX_TEXT_CHARS} characters")


class ConflictAck(Item, frozen=True):
    """A side acknowledges a conflict both stations computed."""

    item_type: ClassVar[str] = "conflict-ack"

    conflict_id: Hash
    note: str = ""

    def validate(self) -> None:
        if len(self.note) > MAX_TEXT_CHARS:
            raise ValueError(f"the note is longer than {MAX_TEXT_CHARS} characters")


for _cls in (Notification, NotificationCancel, NotificationAnswer, ConflictAck):
    register_item_type(_cls)


def conflict_id(one: tuple[bytes, int], other: tuple[bytes, int]) -> bytes:
    """The same name for the same two versions at both stations, in either order."""
    first, second = sorted((one, other))
    found = digest("conflict", first[0], first[1], second[0], second[1])
    assert len(found) == HASH_BYTES
    return found


def geojson(
    shape: str, rings: tuple[tuple[int, ...], ...], parts: tuple[int, ...]
) -> dict[str, Any]:
    """The GeoJSON geometry of an area as it travels."""
    lines = [[[r[i] / MICRO, r[i + 1] / MICRO] for i in range(0, len(r), 2)] for r in rings]
    grouped, at = [], 0
    for count in parts:
        grouped.append(lines[at : at + count])
        at += count
    if shape == "Point":
        coordinates: Any = grouped[0][0][0]
    elif shape in ("MultiPoint", "LineString"):
        coordinates = grouped[0][0]
    elif shape == "MultiLineString":
        coordinates = [g[0] for g in grouped]
    elif shape == "Polygon":
        coordinates = grouped[0]
    else:
        coordinates = grouped
    return {"type": shape, "coordinates": coordinates}


def from_geojson(value: dict[str, Any]) -> tuple[str, tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """An area (a GeoJSON geometry, already checked) as it travels."""
    shape, c = value["type"], value["coordinates"]
    if shape == "Point":
        groups = [[[c]]]
    elif shape in ("MultiPoint", "LineString"):
        groups = [[c]]
    elif shape == "MultiLineString":
        groups = [[line] for line in c]
    elif shape == "Polygon":
        groups = [c]
    else:
        groups = c
    rings = tuple(
        tuple(round(float(v) * MICRO) for p in ring for v in p[:2]) for g in groups for ring in g
    )
    return shape, rings, tuple(len(g) for g in groups)
