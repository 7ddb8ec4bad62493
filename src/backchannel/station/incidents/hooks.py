"""What incident prevention registers with the ledger: notifications and their answers.

Every item is recorded in the register (``register.py``) in the transaction that
records it in the transcript, so a conflict exists at a station the moment the second
of its two notifications is recorded there, whichever side sent it.  A notification
carries its own labels; a cancel or an answer is guarded by its notification's labels
as this station holds them, an acknowledgement of a conflict by the conflict's.  A
notification asks for an answer by its date, and a conflict for both sides'
acknowledgements; both are on the due list and escalate by the deadline rules.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from backchannel.protocol import Item
from backchannel.protocol.languages import Text, same
from backchannel.protocol.notification import (
    ConflictAck,
    Notification,
    NotificationAnswer,
    NotificationCancel,
)
from backchannel.station.core.deadlines import Due
from backchannel.station.core.hooks import (
    Feature,
    ItemHooks,
    Languages,
    Mark,
    Recorded,
    Shown,
)
from backchannel.station.incidents import register
from backchannel.store.incidents import ConflictRow, NotificationRow

NOTIFICATION_ITEMS = (Notification, NotificationCancel, NotificationAnswer)


def _side(r: Recorded) -> str:
    return "us" if r.direction == "out" else "them"


def _recorded(r: Recorded) -> None:
    item, side = r.link.item, _side(r)
    if isinstance(item, Notification):
        register.record(r.s, r.now, channel_id=r.channel_id, origin=side, item=item,
                        item_hash=r.link.envelope_hash.hex())  # fmt: skip
    elif isinstance(item, NotificationCancel):
        register.cancel(r.s, r.channel_id, side, item.notification_id, item.version)
    elif isinstance(item, NotificationAnswer):
        register.answer(r.s, r.channel_id, side, item)
    elif isinstance(item, ConflictAck):
        register.acknowledge_conflict(r.s, r.channel_id, side, item.conflict_id)


def _notification_id(item: Item) -> bytes | None:
    assert isinstance(item, NOTIFICATION_ITEMS)
    return item.notification_id


def _conflict_id(item: Item) -> bytes | None:
    assert isinstance(item, ConflictAck)
    return item.conflict_id


def _deadline(item: Item) -> float | None:
    assert isinstance(item, Notification)
    return item.ack_by.timestamp()


def _own_labels(_s: Session, _channel_id: str, item: Item) -> Iterable[str]:
    assert isinstance(item, Notification)
    return item.clearances


def _notification_labels(s: Session, channel_id: str, item: Item) -> Iterable[str]:
    assert isinstance(item, NotificationCancel | NotificationAnswer)
    row = s.get(NotificationRow, item.notification_id.hex())
    return row.clearances.split() if row is not None and row.channel_id == channel_id else ()


def _conflict_labels(s: Session, channel_id: str, item: Item) -> Iterable[str]:
    assert isinstance(item, ConflictAck)
    row = s.get(ConflictRow, item.conflict_id.hex())
    return row.clearances.split() if row is not None and row.channel_id == channel_id else ()


def _about_notification(s: Session, channel_id: str, item: Item) -> str:
    """A cancel or an answer is about its notification (the latest version held)."""
    assert isinstance(item, NotificationCancel | NotificationAnswer)
    row = s.get(NotificationRow, item.notification_id.hex())
    return row.item_hash if row is not None and row.channel_id == channel_id else ""


def _describe_notification(item: Item, _shown: Shown) -> str:
    assert isinstance(item, Notification)
    what = "announces" if item.version == 1 else f"amends (version {item.version})"
    height = (f"{item.floor_m} to {item.ceiling_m} m" if item.floor_m is not None
              else "on the surface")  # fmt: skip
    details = "".join(f"; {name}: {value}" for name, value in item.details)
    contact = f"; contact: {item.contact}" if item.contact else ""
    return (
        f"{what} {_a(item.kind)} from {item.start:%Y-%m-%d %H:%M} to {item.end:%Y-%m-%d %H:%M} "
        f"UTC, {height}{details}{contact}; an answer is asked for by "
        f"{item.ack_by:%Y-%m-%d %H:%M} UTC" + (f" — {item.text}" if item.text else "")
    )


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _describe_cancel(item: Item, _shown: Shown) -> str:
    assert isinstance(item, NotificationCancel)
    return "cancels the notification" + (f": {item.reason}" if item.reason else "")


def _describe_answer(item: Item, _shown: Shown) -> str:
    assert isinstance(item, NotificationAnswer)
    said = "received and noted" if item.answer == "ack" else "a concern"
    return said + (f": {item.text}" if item.text else "")


def _describe_conflict_ack(item: Item, _shown: Shown) -> str:
    assert isinstance(item, ConflictAck)
    return "acknowledges a conflict" + (f": {item.note}" if item.note else "")


def _marked_notification(item: Item, mark: Mark) -> Item:
    """Its free text marked in its language (English if it names none), each other
    text as ``text-<tag>`` in its own."""
    assert isinstance(item, Notification)
    if not item.text:
        return item
    first = mark("text", item.text, item.text_language or "en")
    others = tuple(
        Text(t.language, mark(f"text-{t.language}", t.text, t.language)) for t in item.others
    )
    return msgspec.structs.replace(item, text=first, others=others)


def _notification_languages(item: Item) -> Languages:
    assert isinstance(item, Notification)
    return (item.texts(), item.authority) if item.others else ((), "")


def _notification_shown_in(item: Item, language: str) -> Item:
    """The notification with its free text in that language first."""
    assert isinstance(item, Notification)
    texts = item.texts()
    chosen = next((t for t in texts if same(t.language, language)), texts[0])
    rest = tuple(t for t in texts if t is not chosen)
    return msgspec.structs.replace(
        item, text=chosen.text, text_language=chosen.language, others=rest
    )


def _marked_answer(item: Item, mark: Mark) -> Item:
    assert isinstance(item, NotificationAnswer)
    return msgspec.structs.replace(item, text=mark("text", item.text, "en")) if item.text else item


def owed(s: Session, now: float, channel_id: str | None) -> list[Due]:
    """Answers owed to live notifications, and acknowledgements owed to open conflicts."""
    found: list[Due] = []
    notifications = select(NotificationRow).where(
        NotificationRow.state == "active", NotificationRow.answer == ""
    )
    conflicts = select(ConflictRow).where(ConflictRow.state == "open")
    if channel_id is not None:
        notifications = notifications.where(NotificationRow.channel_id == channel_id)
        conflicts = conflicts.where(ConflictRow.channel_id == channel_id)
    for n in s.scalars(notifications):
        by = "us" if n.origin == "them" else "them"
        found.append(Due(n.channel_id, n.item_hash, "answer", by, n.ack_by, n.ack_by < now, None,
                         tuple(n.clearances.split()), "notification"))  # fmt: skip
    for c in s.scalars(conflicts):
        for by, done in (("us", c.acked_us), ("them", c.acked_them)):
            if not done:
                found.append(Due(c.channel_id, c.conflict_id, "conflict acknowledgement", by,
                                 c.ack_by, c.ack_by < now, None, tuple(c.clearances.split()),
                                 "conflict"))  # fmt: skip
    return found


def _on_the_map(_item: Item) -> str:
    return "incidents"


INCIDENTS = Feature(
    "incidents",
    items=(
        ItemHooks(Notification, "Notification of planned activity", recorded=_recorded,
                  deadline=_deadline, labels=_own_labels, refers_to=_notification_id,
                  page=_on_the_map, describe=_describe_notification,
                  marked=_marked_notification, languages=_notification_languages,
                  shown_in=_notification_shown_in),
        ItemHooks(NotificationCancel, "Notification cancelled", recorded=_recorded,
                  labels=_notification_labels, refers_to=_notification_id,
                  page=_on_the_map, about=_about_notification, describe=_describe_cancel),
        ItemHooks(NotificationAnswer, "Answer to a notification", recorded=_recorded,
                  labels=_notification_labels, refers_to=_notification_id,
                  page=_on_the_map, about=_about_notification, describe=_describe_answer,
                  marked=_marked_answer),
        ItemHooks(ConflictAck, "Conflict acknowledged", recorded=_recorded,
                  labels=_conflict_labels, refers_to=_conflict_id,
                  page=_on_the_map, describe=_describe_conflict_ack),
    ),
    owed=owed,
)  # fmt: skip
