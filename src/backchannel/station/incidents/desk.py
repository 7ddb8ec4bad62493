"""Incident prevention as officers see it: checked against the matrix, audited, through
the door.

Announcing, amending and cancelling are sending (``send-item``, at labels one holds);
answering a notification and acknowledging a conflict are acknowledging.  Where and
when an activity happens is content: the lists are an item's content read
(``read-item``, filtered by labels, each notification audited as shown), and a
notification's versions are rendered through the door (marked, audited).
"""

from __future__ import annotations

from backchannel.station.access.door import Door, Rendering, require
from backchannel.station.access.policy import Action, Officer
from backchannel.station.core.audit import Record
from backchannel.station.incidents.service import (
    NO_CONFLICT,
    NO_NOTIFICATION,
    ConflictView,
    Incidents,
    NotificationView,
    Plan,
)


class IncidentDesk:
    def __init__(self, door: Door, incidents: Incidents) -> None:
        self.door, self.incidents = door, incidents
        self.station = door.station

    def notify(self, officer: Officer, channel: str, origin: str, plan: Plan) -> str:
        require(officer, Action.SEND_ITEM, plan.clearances)
        channel_id = self.station.resolve(channel)
        return self.incidents.notify(channel_id, plan, Record(officer.name, "notify", origin))

    def amend(
        self, officer: Officer, channel: str, origin: str, notification_id: str, plan: Plan
    ) -> int:
        channel_id = self._cleared(officer, Action.SEND_ITEM, channel, notification_id)
        require(officer, Action.SEND_ITEM, plan.clearances)
        audit = Record(officer.name, "notify-amend", origin)
        return self.incidents.amend(channel_id, notification_id, plan, audit)

    def cancel(
        self, officer: Officer, channel: str, origin: str, notification_id: str, reason: str
    ) -> None:
        channel_id = self._cleared(officer, Action.SEND_ITEM, channel, notification_id)
        audit = Record(officer.name, "notify-cancel", origin)
        self.incidents.cancel(channel_id, notification_id, reason, audit)

    def answer(
        self, officer: Officer, channel: str, origin: str, notification_id: str, *,
        answer: str, text: str = "",
    ) -> None:  # fmt: skip
        channel_id = self._cleared(officer, Action.ACKNOWLEDGE, channel, notification_id)
        audit = Record(officer.name, f"notify-{answer}"[:40], origin)
        self.incidents.answer(channel_id, notification_id, answer, text, audit)

    def acknowledge(
        self, officer: Officer, channel: str, origin: str, conflict_id: str, note: str = ""
    ) -> None:
        require(officer, Action.ACKNOWLEDGE)
        channel_id = self.station.resolve(channel)
        conflict = self.incidents.conflict(channel_id, conflict_id)
        require(officer, Action.ACKNOWLEDGE, conflict.clearances, hidden=NO_CONFLICT)
        audit = Record(officer.name, "conflict-ack", origin, detail=conflict_id)
        self.incidents.acknowledge(channel_id, conflict_id, note, audit)

    def notifications(self, officer: Officer, channel: str, origin: str) -> list[NotificationView]:
        require(officer, Action.READ_ITEM)
        channel_id = self.station.known(self.station.resolve(channel))
        with self.door.showing(officer, origin, channel_id) as showing:
            views = [
                n for n in self.incidents.notifications(channel_id)
                if officer.may(Action.READ_ITEM, n.clearances)
            ]  # fmt: skip
            showing.shown((bytes.fromhex(n.item_hash), "notification") for n in views)
        return views

    def conflicts(
        self, officer: Officer, channel: str, origin: str, cleared: bool = False
    ) -> list[ConflictView]:
        require(officer, Action.READ_ITEM)
        channel_id = self.station.known(self.station.resolve(channel))
        found = self.incidents.conflicts(channel_id, cleared)
        shown = [c for c in found if officer.may(Action.READ_ITEM, c.clearances)]
        self.door.noted(officer, "conflicts", origin, channel_id, detail=f"{len(shown)} shown")
        return shown

    def versions(
        self, officer: Officer, channel: str, origin: str, notification_id: str
    ) -> list[Rendering]:
        """Every version of a notification, and its cancel and answers, through the door."""
        channel_id = self._cleared(officer, Action.READ_ITEM, channel, notification_id)
        wanted = bytes.fromhex(notification_id)
        with self.station.db.transaction() as s:
            entries = [
                e for e in self.station.transcript_in(s, channel_id)
                if self.station.hooks.item(e.item_type).refers_to(e.item) == wanted
                and officer.may(Action.READ_ITEM, e.clearances)
            ]  # fmt: skip
            return self.door.render(s, officer, origin, channel_id, entries)

    def _cleared(self, officer: Officer, action: Action, channel: str, notification_id: str) -> str:
        require(officer, action)
        channel_id = self.station.resolve(channel)
        view = self.incidents.notification(channel_id, notification_id)
        require(officer, action, view.clearances, hidden=NO_NOTIFICATION)
        return channel_id
