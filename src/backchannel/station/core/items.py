"""The ledger's own item types, registered through the same hooks as any feature's.

Messages and their acknowledgements, the checkpoints that compare both chains, the
pairing confirmation, and the reminder the deadline watch sends when an answer owed
by the counterpart is late (its struct is defined beside the proposal items in
``protocol/proposal.py``; any item with a deadline may be reminded).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import ClassVar

import msgspec
from sqlalchemy.orm import Session

from backchannel.protocol import Ack, Checkpoint, Item, Message, PairingConfirm, TlsPins, languages
from backchannel.protocol.items import AuditHead, CoverTraffic
from backchannel.protocol.languages import Text
from backchannel.protocol.proposal import Reminder
from backchannel.station.core import cover, deadlines, witnessed
from backchannel.station.core.hooks import (
    Feature,
    ItemHooks,
    Languages,
    Mark,
    Recorded,
    Shown,
    labels_of_rows,
)
from backchannel.store import repository as repo
from backchannel.store.schema import ChannelRow


class Tombstone(Item, frozen=True):
    """What the transcript keeps where a body was destroyed.  Never sent: its type is
    in no wire registry, so a peer cannot send one.  ``policy_hash`` empty: the key was
    found gone (a copy of the database older than the destruction)."""

    item_type: ClassVar[str] = "tombstone"

    was: str  # the item type it was
    policy_hash: bytes = b""
    policy_title: str = ""
    destroyed_at: float = 0.0


def _describe_tombstone(item: Item, _shown: Shown) -> str:
    assert isinstance(item, Tombstone)
    what = {"message": "a message", "document": "a document", "ack": "an acknowledgement"}.get(
        item.was, f"an item ({item.was})"
    )
    if not item.policy_hash:
        return f"{what}, destroyed: its key is gone from this station"
    day = datetime.fromtimestamp(item.destroyed_at, UTC).strftime("%Y-%m-%d %H:%M")
    return f"{what}, destroyed on {day} UTC under the retention policy “{item.policy_title}”"


def _message_deadline(item: Item) -> float | None:
    assert isinstance(item, Message)
    return item.ack_deadline.timestamp() if item.ack_deadline is not None else None


def _own_labels(_s: Session, _channel_id: str, item: Item) -> Iterable[str]:
    assert isinstance(item, Message)
    return item.clearances


def _labels_of_named(s: Session, channel_id: str, item: Item) -> Iterable[str]:
    """An acknowledgement or a reminder is guarded by the item it names, as we hold it."""
    assert isinstance(item, Ack | Reminder)
    return sorted(labels_of_rows([repo.entry_row(s, channel_id, item.item_hash)], channel_id))


def _about_named(_s: Session, _channel_id: str, item: Item) -> str:
    """An acknowledgement is about the item it acknowledges; a reminder, the item whose
    answer is late."""
    assert isinstance(item, Ack | Reminder)
    return item.item_hash.hex()


def _about_answered(_s: Session, _channel_id: str, item: Item) -> str:
    """A reply is about the item it answers."""
    assert isinstance(item, Message)
    return item.reply_to.hex()


def _names(item: Item) -> bytes | None:
    assert isinstance(item, Ack)
    return item.item_hash


def _marked_message(item: Item, mark: Mark) -> Item:
    """Each text marked in its own language: the first as ``text``, the others as
    ``text-<tag>`` (so a leak of either text is attributed and found)."""
    assert isinstance(item, Message)
    first = mark("text", item.text, item.language)
    others = tuple(
        Text(t.language, mark(f"text-{t.language}", t.text, t.language)) for t in item.others
    )
    return msgspec.structs.replace(item, text=first, others=others)


def _message_languages(item: Item) -> Languages:
    assert isinstance(item, Message)
    return (item.texts(), item.authority) if item.others else ((), "")


def _message_shown_in(item: Item, language: str) -> Item:
    """The message with the text in that language first and the others after it."""
    assert isinstance(item, Message)
    texts = item.texts()
    chosen = next((t for t in texts if languages.same(t.language, language)), texts[0])
    rest = tuple(t for t in texts if t is not chosen)
    return msgspec.structs.replace(item, text=chosen.text, language=chosen.language, others=rest)


def _describe_message(item: Item, _shown: Shown) -> str:
    assert isinstance(item, Message)
    return item.text


def _describe_ack(item: Item, shown: Shown) -> str:
    assert isinstance(item, Ack)
    note = f" — note: {item.note}" if item.note else ""
    named = shown.named
    what = f"“{short(named.text)}”" if isinstance(named, Message) else "an earlier item"
    return f"acknowledges {what}{note}"


def _describe_confirm(_item: Item, shown: Shown) -> str:
    side = "our" if shown.ours else "their"
    return f"{side} admin compared the safety number over an independent line and confirmed it"


def _describe_checkpoint(item: Item, _shown: Shown) -> str:
    assert isinstance(item, Checkpoint)
    return f"both chains compared: {item.sent_seq} sent, {item.received_seq} received"


def _describe_pins(item: Item, shown: Shown) -> str:
    assert isinstance(item, TlsPins)
    side = "our" if shown.ours else "their"
    keys = ", ".join(pin.hex()[:16] for pin in item.pins)
    return f"{side} station's endpoint presents one of these TLS keys from now on: {keys}"


def _repin(r: Recorded) -> None:
    """The peer named the TLS keys it presents from now on: pin those."""
    if r.direction != "in":
        return
    assert isinstance(r.link.item, TlsPins)
    row = r.s.get(ChannelRow, r.channel_id)
    if row is not None:
        row.peer_tls_pins = list(r.link.item.pins)


def _describe_reminder(item: Item, shown: Shown) -> str:
    """Names the item it is about when the reader was shown that too."""
    assert isinstance(item, Reminder)
    named = shown.named
    what = (
        f"to “{short(named.text)}”"
        if isinstance(named, Message)
        else f"to item {item.item_hash.hex()[:12]}"
    )
    return f"the answer {what} owed by {item.deadline:%Y-%m-%d %H:%M} UTC has not arrived"


def short(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


LEDGER = Feature(
    "ledger",
    items=(
        ItemHooks(
            Message,
            "Message",
            deadline=_message_deadline,
            labels=_own_labels,
            about=_about_answered,
            describe=_describe_message,
            marked=_marked_message,
            languages=_message_languages,
            shown_in=_message_shown_in,
        ),
        ItemHooks(
            Ack,
            "Acknowledgement",
            labels=_labels_of_named,
            refers_to=_names,
            about=_about_named,
            describe=_describe_ack,
        ),
        ItemHooks(Checkpoint, "Checkpoint", describe=_describe_checkpoint),
        ItemHooks(PairingConfirm, "Safety number confirmed", describe=_describe_confirm),
        ItemHooks(TlsPins, "TLS keys changed", recorded=_repin, describe=_describe_pins),
        ItemHooks(CoverTraffic, "Cover traffic", recorded=cover.record, describe=cover.describe),
        ItemHooks(
            AuditHead,
            "Audit trail witnessed",
            recorded=witnessed.keep,
            describe=witnessed.describe,
        ),
        ItemHooks(Tombstone, "Destroyed", describe=_describe_tombstone),
        ItemHooks(
            Reminder,
            "Reminder",
            labels=_labels_of_named,
            about=_about_named,
            describe=_describe_reminder,
        ),
    ),
    owed=deadlines.acknowledgements_owed,
)
