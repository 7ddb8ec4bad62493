"""The ledger's own item types, registered through the same hooks as any feature's.

Messages and their acknowledgements, the checkpoints that compare both chains, the
pairing confirmation, and the reminder the deadline watch sends when an answer owed
by the counterpart is late (its struct is defined beside the proposal items in
``protocol/proposal.py``; any item with a deadline may be reminded).
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from sqlalchemy.orm import Session

from backchannel.protocol import Ack, Checkpoint, Item, Message, PairingConfirm, TlsPins
from backchannel.protocol.items import AuditHead, CoverTraffic
from backchannel.protocol.proposal import Reminder
from backchannel.station.core import cover, deadlines, witnessed
from backchannel.station.core.hooks import (
    Feature,
    ItemHooks,
    Mark,
    Recorded,
    Shown,
    labels_of_rows,
)
from backchannel.store import repository as repo
from backchannel.store.schema import ChannelRow


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
    assert isinstance(item, Message)
    return msgspec.structs.replace(item, text=mark("text", item.text, item.language))


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
