"""What a station shows of its channels and their transcripts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from backchannel.protocol import Item
from backchannel.store.schema import TranscriptRow


@dataclass(frozen=True)
class ChannelStatus:
    channel_id: str
    peer_party: str
    peer_station: str
    peer_endpoint: str
    safety_number: str
    pairing: str
    confirmed: bool
    peer_reachable: bool | None
    last_contact_at: float | None
    last_error: str | None
    outbox_backlog: int
    fork_alarm: str | None
    bad_input: int
    duplicates: int  # envelopes that reached us twice (answered with the same ack)
    closed: str | None  # why the channel takes nothing more (restored from a backup)
    tls_pins: int = 0  # the peer's TLS keys we pin; 0: its endpoint is checked by the CAs
    cover_per_hour: int = 0  # the cover traffic running (envelopes an hour each way)
    cover_ours: int | None = None  # the rate our admin agreed to, theirs (None: never said)
    cover_theirs: int | None = None


@dataclass(frozen=True)
class Entry:
    """One item of a channel's transcript, as the station shows it."""

    direction: str  # "out" (we sent it) or "in" (we received it)
    seq: int
    envelope_hash: str
    prev_hash: str
    peer_seq: int
    peer_hash: str
    item_type: str
    item: Item
    delivered: bool | None  # for items we sent: the peer acknowledged delivery
    acknowledged: bool  # a person at the receiving side acknowledged it (Ack item)
    created_at: float
    clearances: tuple[str, ...]  # labels an officer must hold to read it
    position: int  # order of arrival at this station (for "what is new since")
    disclosure: str = "confidential"  # or release-requested, released, release-declined


def entry_of(
    row: TranscriptRow,
    item: Item,
    *,
    delivered: bool | None,
    acknowledged: bool,
    disclosure: str = "confidential",
) -> Entry:
    return Entry(
        row.direction,
        row.seq,
        row.envelope_hash.hex(),
        row.prev_hash.hex(),
        row.peer_seq,
        row.peer_hash.hex(),
        row.item_type,
        item,
        delivered,
        acknowledged,
        row.created_at,
        tuple(row.clearances.split()),
        row.id,
        disclosure,
    )


def to_json(value: Any) -> Any:
    """Plain JSON values for dataclasses, Structs, containers, bytes (hex) and dates."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    elif isinstance(value, msgspec.Struct):
        value = {name: getattr(value, name) for name in value.__struct_fields__}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime):
        return value.isoformat()
    return value
