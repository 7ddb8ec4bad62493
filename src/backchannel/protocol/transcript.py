"""The transcript: two cross-linked hash chains, delivery acks and checkpoints.

Each station numbers its envelopes 1, 2, 3 … and each envelope names the hash of
the sender's previous envelope and of the newest peer envelope the sender had
processed.  This module keeps the heads of both chains, the hashes of our sent
envelopes the peer has not yet acknowledged (to check its acks and cross-links),
a short window of received hashes (to recognise duplicates) and the envelopes
held back until a gap fills.  Acks and checkpoints are authenticated with the
channel's MAC key, never signed.
"""

from __future__ import annotations

from enum import Enum

import msgspec

from .errors import RemoteProtocolError
from .kdf import mac, mac_matches
from .wire import genesis_hash

DUPLICATE_WINDOW = 256

# (sent_seq, sent_head, received_seq, received_head) as one side sees them.
Heads = tuple[int, bytes, int, bytes]


class Arrival(Enum):
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"  # a different envelope at a position already processed
    NEXT = "next"
    EARLY = "early"


class ChainState(msgspec.Struct, array_like=True):
    sent_seq: int
    sent_head: bytes
    unacked: dict[int, bytes]  # our sent envelopes the peer has not acknowledged
    acked_seq: int
    acked_head: bytes
    received_seq: int
    received_head: bytes
    recent: dict[int, bytes]  # hashes of the last received envelopes
    peer_link_seq: int  # newest seq of ours the peer said it processed
    held: dict[int, bytes]  # early envelopes, raw, waiting for the gap to fill


class Transcript:
    def __init__(self, state: ChainState, channel_id: bytes, local: bytes, peer: bytes) -> None:
        self.state = state
        self._channel_id, self._local, self._peer = channel_id, local, peer

    @classmethod
    def start(cls, channel_id: bytes, local: bytes, peer: bytes) -> Transcript:
        ours, theirs = genesis_hash(channel_id, local), genesis_hash(channel_id, peer)
        state = ChainState(0, ours, {}, 0, ours, 0, theirs, {}, 0, {})
        return cls(state, channel_id, local, peer)

    # -- sending -------------------------------------------------------------------

    def record_sent(self, seq: int, envelope_hash: bytes) -> None:
        self.state.sent_seq, self.state.sent_head = seq, envelope_hash
        self.state.unacked[seq] = envelope_hash

    def our_hash(self, seq: int) -> bytes | None:
        """Hash of our envelope ``seq``; None if it is older than the last ack (then implied)."""
        s = self.state
        if seq == s.acked_seq:
            return s.acked_head
        if seq < s.acked_seq:
            return None
        if seq > s.sent_seq:
            raise RemoteProtocolError(f"the peer names our envelope {seq}, which was never sent")
        return s.unacked[seq]

    def our_hash_if_held(self, seq: int) -> bytes | None:
        """Like :meth:`our_hash`, but None (not an error) for a seq never sent."""
        return None if seq > self.state.sent_seq else self.our_hash(seq)

    # -- receiving -----------------------------------------------------------------

    def classify(
        self, seq: int, envelope_hash: bytes, max_gap: int, known: bytes | None = None
    ) -> Arrival:
        """Decide what an incoming envelope is, before any key is derived.

        ``known``: the hash the driver's archive holds for ``seq``, for envelopes older
        than the window of recent hashes kept here.
        """
        s = self.state
        if seq <= s.received_seq:
            held = s.recent.get(seq, known)
            if held is not None and held != envelope_hash:
                return Arrival.CONFLICT
            return Arrival.DUPLICATE
        if seq - s.received_seq > max_gap:
            raise RemoteProtocolError(
                f"sequence jump from {s.received_seq} to {seq} exceeds the limit of {max_gap}"
            )
        return Arrival.NEXT if seq == s.received_seq + 1 else Arrival.EARLY

    def hold(self, seq: int, data: bytes, max_bytes: int) -> bool:
        """Hold an early envelope (a copy of it changes nothing; another envelope at the
        seq is the caller's fork, see ``holds_other``); False if the buffer is full."""
        held = self.state.held
        if seq in held:
            return True
        if sum(map(len, held.values())) + len(data) > max_bytes:
            return False
        held[seq] = data
        return True

    def holds_other(self, seq: int, data: bytes) -> bool:
        """Whether another envelope than this one is held at ``seq``."""
        held = self.state.held.get(seq)
        return held is not None and held != data

    def next_held(self) -> tuple[int, bytes] | None:
        seq = self.state.received_seq + 1
        data = self.state.held.pop(seq, None)
        return None if data is None else (seq, data)

    def fork_in_links(self, prev_hash: bytes, peer_seq: int, peer_hash: bytes) -> str | None:
        """Why the links of the next envelope contradict our transcript, or None."""
        s = self.state
        if prev_hash != s.received_head:
            return f"envelope {s.received_seq + 1} does not follow the peer envelope we hold"
        if peer_seq < s.peer_link_seq:
            return f"the peer's view of our chain went back from {s.peer_link_seq} to {peer_seq}"
        ours = self.our_hash(peer_seq)
        if ours is not None and ours != peer_hash:
            return f"the peer holds a different envelope {peer_seq} of ours"
        return None

    def record_received(self, seq: int, envelope_hash: bytes, peer_seq: int) -> None:
        s = self.state
        s.received_seq, s.received_head, s.peer_link_seq = seq, envelope_hash, peer_seq
        s.recent[seq] = envelope_hash
        s.recent.pop(seq - DUPLICATE_WINDOW, None)

    # -- acknowledgements ------------------------------------------------------------

    def ack_tag(self, key: bytes, seq: int, head: bytes) -> bytes:
        """Our ack of the peer's chain up to ``seq``."""
        return mac(key, "ack", self._channel_id, self._local, self._peer, seq, head)

    def ack_valid(self, key: bytes, tag: bytes, seq: int, head: bytes) -> bool:
        """Whether the peer's ack of our chain up to ``seq`` is authentic."""
        return mac_matches(key, tag, "ack", self._channel_id, self._peer, self._local, seq, head)

    def apply_ack(self, seq: int, head: bytes) -> str | None:
        """Record a verified ack; return a fork reason if it names a different envelope."""
        s = self.state
        if seq <= s.acked_seq:
            return None
        ours = self.our_hash(seq)
        if ours != head:
            return f"the peer acknowledged a different envelope {seq} of ours"
        s.unacked = {n: h for n, h in s.unacked.items() if n > seq}
        s.acked_seq, s.acked_head = seq, head
        return None

    # -- checkpoints ---------------------------------------------------------------

    def checkpoint_tag(self, key: bytes, heads: Heads) -> bytes:
        """Tag for our checkpoint of both chains."""
        return mac(key, "checkpoint", self._channel_id, self._local, self._peer, *heads)

    def checkpoint_valid(self, key: bytes, tag: bytes, heads: Heads) -> bool:
        """Whether the peer's checkpoint is authentic."""
        return mac_matches(
            key, tag, "checkpoint", self._channel_id, self._peer, self._local, *heads
        )
