"""Comparing heads with the peer: how either side finds that a station went back.

A station whose storage was put back to an earlier copy (a VM snapshot, a file
copy) holds channel state the counterpart has moved past.  Sending from it would
reuse sequence numbers and Olm message keys.  Before it sends anything after a
start, and whenever the peer's answers look behind, a station asks the peer for its
heads: a ``HeadsProbe`` carrying a fresh nonce, answered by ``Heads`` — the peer's
sent, received and acknowledged positions with their hashes — tagged with the
channel's MAC key over the nonce, so an old answer cannot be replayed as a new one.

:func:`compare` then decides.  The peer holding more of our chain than we sent, or
an acknowledgement from us of more than we hold, means *we* went back; the peer
holding less than it once acknowledged, or having sent less than we hold, means *it*
did; a different hash at a position both hold is a fork.  Either way both sides stop
the channel: the side that found it tells the other with a ``WentBackNotice``, also
tagged (a replayed notice can only repeat a stop that already happened).

Authenticated by MACs only, like acks and checkpoints: nothing here is signed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec

from .encoding import decode, encode
from .errors import AuthenticationFailed, RemoteProtocolError
from .kdf import mac, mac_matches
from .wire import VERSION, Count, Hash, Id16

HEADS_MAGIC = b"BH"
MAX_HEADS_BYTES = 512
Nonce16 = Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
Side = Literal["us", "peer"]  # who went back, as the side that found it sees it
Found = Literal["us", "peer", "fork"]  # what a notice reports: who went back, or a fork


class HeadsProbe(msgspec.Struct, array_like=True, frozen=True, tag="probe"):
    channel_id: Id16
    sender: Id16
    receiver: Id16
    nonce: Nonce16
    auth: Hash


class Heads(msgspec.Struct, array_like=True, frozen=True, tag="heads"):
    """One side's positions, as it answers a probe (``nonce`` is the probe's)."""

    channel_id: Id16
    sender: Id16
    receiver: Id16
    nonce: Nonce16
    sent_seq: Count
    sent_head: Hash
    received_seq: Count
    received_head: Hash
    acked_seq: Count  # of the sender's own chain, acknowledged by the receiver
    auth: Hash


class WentBackNotice(msgspec.Struct, array_like=True, frozen=True, tag="went-back"):
    """The sender found that ``who`` (from the sender's side) went back, or a fork."""

    channel_id: Id16
    sender: Id16
    receiver: Id16
    who: Found
    auth: Hash


Message = HeadsProbe | Heads | WentBackNotice
_PREFIX = HEADS_MAGIC + bytes([VERSION])


def encode_message(message: Message) -> bytes:
    return _PREFIX + encode(message)


def decode_message(data: bytes) -> Message:
    if len(data) > MAX_HEADS_BYTES or data[:3] != _PREFIX:
        raise RemoteProtocolError("not a backchannel heads message")
    schema: Any = Message  # a union of tagged structs: msgspec tells them apart
    message: Message = decode(data[3:], schema, limit=MAX_HEADS_BYTES, what="heads message")
    return message


def probe_tag(key: bytes, p: HeadsProbe) -> bytes:
    return mac(key, "heads-probe", p.channel_id, p.sender, p.receiver, p.nonce)


def heads_tag(key: bytes, h: Heads) -> bytes:
    return mac(
        key,
        "heads",
        h.channel_id,
        h.sender,
        h.receiver,
        h.nonce,
        h.sent_seq,
        h.sent_head,
        h.received_seq,
        h.received_head,
        h.acked_seq,
    )


def notice_tag(key: bytes, n: WentBackNotice) -> bytes:
    return mac(key, "went-back", n.channel_id, n.sender, n.receiver, n.who)


def check_tag(key: bytes, message: Message) -> None:
    """Raise AuthenticationFailed unless the message's tag is right."""
    if isinstance(message, HeadsProbe):
        fields: tuple[bytes | int | str, ...] = (message.nonce,)
        label = "heads-probe"
    elif isinstance(message, Heads):
        label = "heads"
        fields = (
            message.nonce,
            message.sent_seq,
            message.sent_head,
            message.received_seq,
            message.received_head,
            message.acked_seq,
        )
    else:
        label, fields = "went-back", (message.who,)
    if not mac_matches(
        key, message.auth, label, message.channel_id, message.sender, message.receiver, *fields
    ):
        raise AuthenticationFailed


class Ours(msgspec.Struct, frozen=True):
    """Our positions, as :func:`compare` needs them."""

    sent_seq: int
    acked_seq: int
    received_seq: int
    received_head: bytes


Verdict = tuple[Side | Literal["fork"], str]


def compare(
    now: Ours, asked: Ours, theirs: Heads, our_hash: Callable[[int], bytes | None]
) -> Verdict | None:
    """Who went back (or a fork), from a fresh, authenticated answer; None if consistent.

    ``asked`` are our positions when the probe went out, ``now`` ours as the answer is
    read: between the two we may have received, sent and been acknowledged more, and
    the peer answered somewhere in between.  So that nothing in flight reads as a
    rollback, the peer is held to what we knew when we asked (it can only have moved
    on since), and we to what we know now (ours only grow).  ``our_hash(seq)`` is the
    hash of our envelope ``seq`` if we still hold it, else None.
    """
    return _went_back(now, asked, theirs) or _forked(now, asked, theirs, our_hash)


def _went_back(now: Ours, asked: Ours, theirs: Heads) -> Verdict | None:
    if theirs.received_seq > now.sent_seq:
        return "us", (
            f"the counterpart has processed our envelope {theirs.received_seq}, "
            f"but this station has sent only {now.sent_seq}"
        )
    if theirs.acked_seq > now.received_seq:
        return "us", (
            f"this station acknowledged the counterpart's envelope {theirs.acked_seq},"
            f" but holds only {now.received_seq}"
        )
    if theirs.received_seq < asked.acked_seq:
        return "peer", (
            f"the counterpart acknowledged our envelope {asked.acked_seq}, but "
            f"holds only {theirs.received_seq}"
        )
    if theirs.sent_seq < asked.received_seq:
        return "peer", (
            f"this station holds the counterpart's envelope {asked.received_seq}, "
            f"but it has sent only {theirs.sent_seq}"
        )
    return None


def _forked(
    now: Ours, asked: Ours, theirs: Heads, our_hash: Callable[[int], bytes | None]
) -> Verdict | None:
    del now  # our own envelopes are looked up by their hash, whenever they were sent
    known = our_hash(theirs.received_seq)
    if known is not None and known != theirs.received_head:
        return "fork", f"the counterpart holds a different envelope {theirs.received_seq} of ours"
    if theirs.sent_seq == asked.received_seq and theirs.sent_head != asked.received_head:
        return "fork", f"this station holds a different envelope {asked.received_seq} of theirs"
    return None
