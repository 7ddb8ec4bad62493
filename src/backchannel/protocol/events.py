"""Events the channel reports to its driver: small frozen records of what happened."""

from __future__ import annotations

from dataclasses import dataclass

from .items import Item


@dataclass(frozen=True)
class ItemReceived:
    """The next envelope in order was authenticated; its item joins the transcript."""

    seq: int
    envelope_hash: bytes
    prev_hash: bytes
    peer_seq: int
    peer_hash: bytes
    item: Item


@dataclass(frozen=True)
class DuplicateReceived:
    """An envelope already processed came again; answer it with :meth:`Channel.ack`."""

    seq: int


@dataclass(frozen=True)
class EnvelopeHeld:
    """An envelope arrived ahead of a gap; it waits until the gap fills."""

    seq: int


@dataclass(frozen=True)
class HeldEnvelopeDiscarded:
    """A held envelope failed when its turn came; the sender will retransmit."""

    seq: int
    reason: str


@dataclass(frozen=True)
class PeerConfirmed:
    """The counterpart's admin confirmed the safety number."""


@dataclass(frozen=True)
class ChannelActive:
    """Both admins confirmed; items of every type may flow."""


@dataclass(frozen=True)
class EpochRenewed:
    """The outer post-quantum key of one direction was renewed; the old one is deleted."""

    direction: str  # "send" or "receive"
    epoch: int


@dataclass(frozen=True)
class CheckpointMatched:
    """The peer's checkpoint agrees with our transcript."""

    sent_seq: int
    received_seq: int


@dataclass(frozen=True)
class ForkDetected:
    """The peer's view of the transcript differs from ours: alarm both admins."""

    reason: str


@dataclass(frozen=True)
class Delivered:
    """The peer acknowledged our envelopes up to and including ``seq``."""

    seq: int


Event = (
    ItemReceived
    | DuplicateReceived
    | EnvelopeHeld
    | HeldEnvelopeDiscarded
    | PeerConfirmed
    | ChannelActive
    | EpochRenewed
    | CheckpointMatched
    | ForkDetected
    | Delivered
)
