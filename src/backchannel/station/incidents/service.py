"""Incident prevention's steps: announce, amend, cancel, answer, acknowledge a conflict.

A plan is checked here before anything is sent: its kind is one this station knows,
with the details the kind requires; its area reads (``parse_area``, with this
station's limits); its window and dates are in order.  The notification then names
the counterpart's active notifications this station holds (``seen``), the kind's
minimum notice and the station's warning distance, and goes out like any item; the
register and the conflicts follow from the hooks, in the same transaction.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from backchannel.analysis.incidents import AreaError, Limits, parse_area
from backchannel.protocol.languages import Text as LanguageText
from backchannel.protocol.notification import (
    Answer,
    ConflictAck,
    Notification,
    NotificationAnswer,
    NotificationCancel,
    from_geojson,
)
from backchannel.station.access.door import composed_texts
from backchannel.station.core.audit import Record
from backchannel.station.core.errors import ChannelNotFound, InvalidRequest
from backchannel.station.core.ledger import Ledger
from backchannel.store.incidents import ConflictRow, NotificationRow

NO_NOTIFICATION = "no notification of this channel has that id"
NO_CONFLICT = "no conflict of this channel has that id"


@dataclass(frozen=True)
class Plan:
    """What an officer announces."""

    kind: str
    area: Any  # a GeoJSON geometry (decoded)
    start: datetime
    end: datetime
    ack_by: datetime
    radius_m: int = 0
    width_m: int = 0
    buffer_m: int = 0
    floor_m: int | None = None
    ceiling_m: int | None = None
    margin_s: int = 0
    details: dict[str, str] = field(default_factory=dict)
    contact: str = ""
    text: str = ""
    clearances: tuple[str, ...] = ()
    # The text in other languages (docs/languages.md): its own language, the others,
    # and which prevails ("same-force" or a tag).
    text_language: str = ""
    others: tuple[LanguageText, ...] = ()
    authority: str = ""


@dataclass(frozen=True)
class NotificationView:
    notification_id: str
    channel_id: str
    origin: str  # us, them
    version: int
    state: str  # active, cancelled, unreadable
    item_hash: str
    answer: str  # "", ack, concern
    clearances: tuple[str, ...]
    terms: dict[str, Any]  # as the register keeps them (register.terms_of)


@dataclass(frozen=True)
class ConflictView:
    conflict_id: str
    channel_id: str
    first: tuple[str, int]
    second: tuple[str, int]
    state: str  # open, cleared
    acked_us: bool
    acked_them: bool
    ack_by: float
    detected_at: float
    clearances: tuple[str, ...]
    figures: dict[str, Any]


class Incidents:
    def __init__(self, station: Ledger) -> None:
        self.station = station

    @property
    def limits(self) -> Limits:
        c = self.station.config.deconfliction
        return Limits(max_vertices=c.max_vertices, max_area_km2=c.max_area_km2)

    def notify(self, channel_id: str, plan: Plan, audit: Record) -> str:
        """Announce a planned activity; its id."""
        item = self._item(channel_id, plan, secrets.token_bytes(16), 1)
        self.station.send(channel_id, item, audit)
        return item.notification_id.hex()

    def amend(self, channel_id: str, notification_id: str, plan: Plan, audit: Record) -> int:
        """A new version of one of our active notifications; its number."""
        row = self._ours(channel_id, notification_id)
        item = self._item(channel_id, plan, bytes.fromhex(row.notification_id), row.version + 1)
        self.station.send(channel_id, item, audit)
        return item.version

    def cancel(self, channel_id: str, notification_id: str, reason: str, audit: Record) -> None:
        row = self._ours(channel_id, notification_id)
        item = NotificationCancel(bytes.fromhex(row.notification_id), row.version, reason)
        self.station.send(channel_id, item, audit)

    def answer(
        self, channel_id: str, notification_id: str, answer: str, text: str, audit: Record
    ) -> None:
        row = self._row(channel_id, notification_id)
        if row.origin != "them" or row.state != "active":
            raise InvalidRequest("only the counterpart's active notifications are answered")
        if answer not in ("ack", "concern"):
            raise InvalidRequest("an answer is 'ack' (received and noted) or 'concern'")
        verdict: Answer = "ack" if answer == "ack" else "concern"
        item = NotificationAnswer(bytes.fromhex(row.notification_id), row.version, verdict, text)
        self.station.send(channel_id, item, audit)

    def acknowledge(self, channel_id: str, conflict_id: str, note: str, audit: Record) -> None:
        conflict = self.conflict(channel_id, conflict_id)
        if conflict.state != "open":
            raise InvalidRequest("the conflict was cleared: nothing to acknowledge")
        if conflict.acked_us:
            raise InvalidRequest("this station acknowledged the conflict already")
        self.station.send(channel_id, ConflictAck(bytes.fromhex(conflict.conflict_id), note), audit)

    # -- what is held ----------------------------------------------------------------

    def notifications(self, channel_id: str | None = None) -> list[NotificationView]:
        with self.station.db.reading() as s:
            query = select(NotificationRow)
            if channel_id is not None:
                query = query.where(NotificationRow.channel_id == channel_id)
            views = [_notification(r) for r in s.scalars(query)]
        return sorted(views, key=lambda v: (v.terms["start"], v.notification_id))

    def notification(self, channel_id: str, notification_id: str) -> NotificationView:
        return _notification(self._row(channel_id, notification_id))

    def conflicts(self, channel_id: str | None = None, cleared: bool = False) -> list[ConflictView]:
        with self.station.db.reading() as s:
            query = select(ConflictRow)
            if channel_id is not None:
                query = query.where(ConflictRow.channel_id == channel_id)
            if not cleared:
                query = query.where(ConflictRow.state == "open")
            views = [_conflict(r) for r in s.scalars(query)]
        return sorted(views, key=lambda c: (c.figures["start"], c.conflict_id))

    def conflict(self, channel_id: str, conflict_id: str) -> ConflictView:
        with self.station.db.reading() as s:
            row = s.get(ConflictRow, conflict_id) if len(conflict_id) == 64 else None
            if row is None or row.channel_id != channel_id:
                raise ChannelNotFound(NO_CONFLICT)
            return _conflict(row)

    def _row(self, channel_id: str, notification_id: str) -> NotificationRow:
        with self.station.db.reading() as s:
            row = s.get(NotificationRow, notification_id) if len(notification_id) == 32 else None
            if row is None or row.channel_id != channel_id:
                raise ChannelNotFound(NO_NOTIFICATION)
            s.expunge(row)
            return row

    def _ours(self, channel_id: str, notification_id: str) -> NotificationRow:
        row = self._row(channel_id, notification_id)
        if row.origin != "us" or row.state != "active":
            raise InvalidRequest("only this station's active notifications can be changed")
        return row

    def _item(
        self, channel_id: str, plan: Plan, notification_id: bytes, version: int
    ) -> Notification:
        config = self.station.config.deconfliction
        kind = config.kinds.get(plan.kind)
        if kind is None:
            raise InvalidRequest(f"the activity kind is one of: {', '.join(sorted(config.kinds))}")
        missing = [f for f in kind.fields if not plan.details.get(f, "").strip()]
        if missing:
            raise InvalidRequest(f"a {plan.kind} notification says its {', '.join(missing)}")
        try:
            parse_area(plan.area, radius_m=plan.radius_m, width_m=plan.width_m,
                       buffer_m=plan.buffer_m, limits=self.limits)  # fmt: skip
        except AreaError as exc:
            raise InvalidRequest(str(exc)) from None
        now = self.station.clock()
        if plan.ack_by.timestamp() <= now:
            raise InvalidRequest("the date an answer is asked for is in the past")
        shape, rings, parts = from_geojson(plan.area)
        language, others, authority = (
            composed_texts(plan.text_language or "en", plan.others, plan.authority)
            if plan.others or plan.text_language
            else ("", (), "")
        )
        return Notification(
            notification_id=notification_id, version=version, kind=plan.kind, shape=shape,
            rings=rings, parts=parts, start=plan.start, end=plan.end, ack_by=plan.ack_by,
            sent_at=datetime.fromtimestamp(now, UTC), radius_m=plan.radius_m,
            width_m=plan.width_m, buffer_m=plan.buffer_m, floor_m=plan.floor_m,
            ceiling_m=plan.ceiling_m, margin_s=plan.margin_s, warning_m=config.warning_m,
            notice_s=round(kind.min_notice_hours * 3600),
            details=tuple(sorted(plan.details.items())), contact=plan.contact, text=plan.text,
            seen=self._seen(channel_id), clearances=tuple(sorted(set(plan.clearances))),
            text_language=language, others=others, authority=authority,
        )  # fmt: skip

    def _seen(self, channel_id: str) -> tuple[tuple[bytes, int], ...]:
        """The counterpart's active notifications this station holds now."""
        with self.station.db.reading() as s:
            rows = s.scalars(select(NotificationRow).where(
                NotificationRow.channel_id == channel_id, NotificationRow.origin == "them",
                NotificationRow.state == "active",
            ))  # fmt: skip
            return tuple(sorted((bytes.fromhex(r.notification_id), r.version) for r in rows))


def _notification(r: NotificationRow) -> NotificationView:
    return NotificationView(
        r.notification_id, r.channel_id, r.origin, r.version, r.state, r.item_hash, r.answer,
        tuple(r.clearances.split()), json.loads(r.terms),
    )  # fmt: skip


def _conflict(r: ConflictRow) -> ConflictView:
    return ConflictView(
        r.conflict_id, r.channel_id, (r.first_id, r.first_version),
        (r.second_id, r.second_version), r.state, r.acked_us, r.acked_them, r.ack_by,
        r.detected_at, tuple(r.clearances.split()), json.loads(r.figures),
    )  # fmt: skip
