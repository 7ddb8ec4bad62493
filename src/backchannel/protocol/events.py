"""Events the channel reports to its driver: small frozen records of what happened.

They are frozen ``msgspec.Struct``s rather than dataclasses because one or two are
made per envelope and Structs cost a fraction to construct.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from .items import Item


class ItemReceived(msgspec.Struct, frozen=True):
    """The next envelope in order was authenticated; its item joins the transcript."""

    seq: int
    envelope_hash: bytes
    prev_hash: bytes
    peer_seq: int
    peer_hash: bytes
    item: Item


class DuplicateReceived(msgspec.Struct, frozen=True):
    """An envelope already processed came again; answer it with :meth:`Channel.ack`."""

    seq: int


class EnvelopeHeld(msgspec.Struct, frozen=True):
    """An envelope arrived ahead of a gap; it waits until the gap fills."""

    seq: int


class HeldEnvelopeDiscarded(msgspec.Struct, frozen=True):
    """A held envelope failed when its turn came; the sender will retransmit."""

    seq: int
    reason: str


class PeerConfirmed(msgspec.Struct, frozen=True):
    """The counterpart's admin confirmed the safety number."""


class ChannelActive(msgspec.Struct, frozen=True):
    """Both admins confirmed; items of every type may flow."""


class EpochRenewed(msgspec.Struct, frozen=True):
    """The outer post-quantum key of one direction was renewed; the old one is deleted."""

    direction: str  # "send" or "receive"
    epoch: int


class CheckpointMatched(msgspec.Struct, frozen=True):
    """The peer's checkpoint agrees with our transcript."""

    sent_seq: int
    received_seq: int


class ForkDetected(msgspec.Struct, frozen=True):
    """The peer's view of the transcript differs from ours: alarm both admins."""

    reason: str


class Delivered(msgspec.Struct, frozen=True):
    """The peer acknowledged our envelopes up to and including ``seq``."""

    seq: int


class AckBehind(msgspec.Struct, frozen=True):
    """An authentic ack names less than the peer acknowledged before: compare heads.

    It may be an old answer arriving late, or the peer's state may have gone back;
    only a fresh comparison (:meth:`Channel.heads_probe`) can tell.
    """

    seq: int
    acked_seq: int


class HeadsMatched(msgspec.Struct, frozen=True):
    """A fresh comparison of heads with the peer found nothing wrong."""


class WentBack(msgspec.Struct, frozen=True):
    """One side's state went back to an earlier copy: stop the channel at both ends.

    ``who`` is "us" (this station's storage was put back) or "peer".
    """

    who: Literal["us", "peer"]
    reason: str


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
    | AckBehind
    | HeadsMatched
    | WentBack
)
