"""The channel: one bilateral link, as a state machine over bytes.

``send_item(item, now) -> bytes`` and ``receive(bytes, now) -> [Event]`` are the
whole interface; the driver moves the bytes and persists :meth:`Channel.snapshot`
before it transmits anything it got from ``send_item`` and before it returns
:meth:`Channel.ack` to the peer.  Processing is strictly in sequence order, so
every key is used once and the transcript is the same at both ends.  A refused
envelope changes nothing, with one deliberate exception: if it opened both layers
before being refused, its Olm plaintext is stashed (see ``MAX_STASHED``).
"""

from __future__ import annotations

import os
from typing import NamedTuple, TypeVar

import msgspec
import vodozemac

from . import envelope as v2
from . import witness
from .encoding import decode, encode
from .envelope import Envelope, InnerV2, WireKeys
from .errors import (
    AuthenticationFailed,
    ConflictingEnvelope,
    LocalProtocolError,
    RemoteProtocolError,
)
from .events import (
    AckBehind,
    ChannelActive,
    CheckpointMatched,
    Delivered,
    DuplicateReceived,
    EnvelopeHeld,
    Event,
    ForkDetected,
    HeadsMatched,
    HeldEnvelopeDiscarded,
    ItemReceived,
    PeerConfirmed,
    WentBack,
)
from .heads import (
    Found,
    Heads,
    HeadsProbe,
    Ours,
    Side,
    WentBackNotice,
    check_tag,
    compare,
    decode_message,
    encode_message,
    heads_tag,
    notice_tag,
    probe_tag,
)
from .identity import PublicIdentity, safety_number
from .items import Checkpoint, Item, PairingConfirm, decode_item, encode_item, item_class
from .kdf import derive_key, digest, hash_bytes
from .outer import ChannelPolicy, OuterLayer, OuterState, PendingRenewal, check_offer
from .randomness import Rng
from .sealing import olm_pickle_key, seal, unseal
from .states import PAIRING_TABLE, Pairing, PairingInput, advance
from .transcript import Arrival, ChainState, Transcript
from .wire import (
    MAX_INNER_BYTES,
    DeliveryAck,
    Header,
    Inner,
    associated_data,
    encode_ack,
    encode_envelope,
    envelope_hash,
    parse_ack,
    parse_envelope,
)

SNAPSHOT_KIND = "channel"
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024
NONCE_BYTES = 12


# Olm messages that opened inside a refused envelope, kept by digest: the ratchet
# cannot step back, so without them an attacker holding an outer key could burn a
# message key by re-sealing a genuine Olm message under a changed header.
MAX_STASHED = 32


class ChannelState(msgspec.Struct, array_like=True):
    """Everything a channel needs to go on after a restart (sealed by :meth:`snapshot`)."""

    channel_id: bytes
    local: PublicIdentity
    peer: PublicIdentity
    peer_endpoint: str
    pairing: Pairing
    mac_key: bytes
    olm_session: str
    outer: OuterState
    chain: ChainState
    fork_alarm: str | None
    olm_stash: dict[bytes, bytes] = msgspec.field(default_factory=dict)
    # The lowest envelope version taken from the peer: 1 for a channel paired before
    # version 2, until the peer's first version-2 envelope; then 2 for good.
    peer_floor: int = 1


class SentEnvelope(NamedTuple):
    """An envelope we produced, with its place in the transcript."""

    seq: int
    envelope_hash: bytes
    prev_hash: bytes
    peer_seq: int
    peer_hash: bytes
    data: bytes
    item: Item


class _Opened(NamedTuple):
    envelope: Envelope
    inner: Inner | InnerV2
    item: Item
    renewal: PendingRenewal | None
    envelope_hash: bytes


class Channel:
    def __init__(
        self,
        state: ChannelState,
        session: vodozemac.Session,
        policy: ChannelPolicy | None = None,
        rng: Rng = os.urandom,
    ) -> None:
        self._state = state
        self._session = session
        self.policy = policy or ChannelPolicy()
        self._rng = rng
        # Station ids hash every long-term key; compute them once, not per envelope.
        self._local_id, self._peer_id = state.local.station_id, state.peer.station_id
        context = (state.channel_id, self._local_id, self._peer_id)
        self._outer = OuterLayer(state.outer, context, rng)
        self._chain = Transcript(state.chain, *context)
        self._wire = WireKeys.derive(state.mac_key, *context)

    @classmethod
    def create(
        cls,
        *,
        channel_id: bytes,
        local: PublicIdentity,
        peer: PublicIdentity,
        peer_endpoint: str,
        session: vodozemac.Session,
        root: bytes,
        now: float,
        policy: ChannelPolicy | None = None,
        rng: Rng = os.urandom,
    ) -> Channel:
        """A newly paired channel (see :mod:`backchannel.protocol.pairing`)."""
        context = (channel_id, local.station_id, peer.station_id)
        state = ChannelState(
            channel_id=channel_id,
            local=local,
            peer=peer,
            peer_endpoint=peer_endpoint,
            pairing=Pairing.AWAITING_CONFIRMATION,
            mac_key=derive_key(root, "mac", channel_id),
            olm_session="",
            outer=OuterLayer.start(root, context, now, rng).state,
            chain=Transcript.start(*context).state,
            fork_alarm=None,
            peer_floor=v2.VERSION,
        )
        return cls(state, session, policy, rng)

    # -- what the driver shows -----------------------------------------------------

    @property
    def channel_id(self) -> bytes:
        return self._state.channel_id

    @property
    def local(self) -> PublicIdentity:
        return self._state.local

    @property
    def peer(self) -> PublicIdentity:
        return self._state.peer

    @property
    def peer_endpoint(self) -> str:
        return self._state.peer_endpoint

    @property
    def pairing(self) -> Pairing:
        return self._state.pairing

    @property
    def fork_alarm(self) -> str | None:
        return self._state.fork_alarm

    @property
    def safety_number(self) -> str:
        return safety_number(self._state.local, self._state.peer)

    @property
    def sent_seq(self) -> int:
        return self._chain.state.sent_seq

    @property
    def received_seq(self) -> int:
        return self._chain.state.received_seq

    @property
    def acked_seq(self) -> int:
        """Our envelopes up to this one are acknowledged by the peer."""
        return self._chain.state.acked_seq

    @property
    def epochs(self) -> tuple[int, int]:
        """Current outer-layer epochs (sending, receiving)."""
        return self._outer.state.send_epoch, self._outer.state.recv_epoch

    def _safety_digest(self) -> bytes:
        return digest("safety-number", self.safety_number)

    # -- commands --------------------------------------------------------------------

    def confirm(self, now: float) -> bytes:
        """Our admin compared the safety number: tell the peer."""
        return self.send_confirmation(now).data

    def send_confirmation(self, now: float) -> SentEnvelope:
        """:meth:`confirm`, with the transcript links the driver records."""
        self._state.pairing = advance(
            PAIRING_TABLE, self._state.pairing, PairingInput.CONFIRM, LocalProtocolError
        )
        return self._send(PairingConfirm(self._safety_digest()), now)

    def send_checkpoint(self, now: float) -> bytes:
        """Send the heads of both chains so the peer can compare transcripts."""
        return self.send(self.checkpoint(), now).data

    def checkpoint(self) -> Checkpoint:
        """The heads of both chains now, tagged; send it at once (it names our head)."""
        c = self._chain.state
        heads = (c.sent_seq, c.sent_head, c.received_seq, c.received_head)
        return Checkpoint(*heads, tag=self._chain.checkpoint_tag(self._state.mac_key, heads))

    def send_item(self, item: Item, now: float) -> bytes:
        """Encrypt ``item`` as the next envelope. Persist the snapshot before sending it."""
        return self.send(item, now).data

    def send(self, item: Item, now: float) -> SentEnvelope:
        """Like :meth:`send_item`, with the transcript links the driver records."""
        if item.pairing:
            raise LocalProtocolError("pairing items are sent by confirm(), never directly")
        return self._send(item, now)

    def _send(self, item: Item, now: float) -> SentEnvelope:
        if not item.pairing and self._state.pairing is not Pairing.ACTIVE:
            raise LocalProtocolError("the channel carries only pairing items until both confirm")
        c = self._chain.state
        if c.sent_seq - c.acked_seq >= self.policy.max_unacked:
            raise LocalProtocolError(
                f"the peer has not acknowledged {self.policy.max_unacked} envelopes; "
                "it may be down: wait for the backlog to drain"
            )
        seq = c.sent_seq + 1
        epoch, renewal = self._outer.next_send(self.policy, now)
        nonce = self._rng(NONCE_BYTES)
        links = (c.sent_head, c.received_seq, c.received_head, self._outer.take_offer())
        if self.policy.send_version == 1:
            header = Header(
                self.channel_id, self._local_id, self._peer_id, seq, item.item_type, epoch,
                renewal, nonce,
            )  # fmt: skip
            ad = associated_data(header)
            inner: Inner | InnerV2 = Inner(hash_bytes("header", ad), *links, encode_item(item))
            olm = self._olm_encrypt(inner)
            data = encode_envelope(header, self._outer.seal(nonce, olm, ad))
        else:
            ids = (self._local_id, self._peer_id)
            clear, ad = v2.draft(self._wire, self.channel_id, ids, (seq, epoch, renewal), nonce)
            digest_ = hash_bytes("header", ad)
            inner = InnerV2(digest_, *links, item.item_type, encode_item(item))
            olm = self._olm_encrypt(inner)
            data = clear + self._outer.seal(nonce, v2.padded(clear, olm), ad)
        hashed = envelope_hash(data)
        self._chain.record_sent(seq, hashed)
        return SentEnvelope(
            seq, hashed, inner.prev_hash, inner.peer_seq, inner.peer_hash, data, item
        )

    def _olm_encrypt(self, inner: Inner | InnerV2) -> bytes:
        olm_type, olm_body = self._session.encrypt(encode(inner)).to_parts()
        return bytes([olm_type]) + olm_body

    def ack(self) -> bytes:
        """The cumulative delivery ack to return after the snapshot is committed.

        In the version the peer sends in: version 1 only to a peer still sending it.
        """
        c = self._chain.state
        tag = self._chain.ack_tag(self._state.mac_key, c.received_seq, c.received_head)
        if self._state.peer_floor >= v2.VERSION:
            plain = (c.received_seq, c.received_head, tag)
            nonce = self._rng(NONCE_BYTES)
            return v2.seal_ack(self._wire.send_control, self.channel_id, nonce, plain)
        ack = DeliveryAck(
            self.channel_id,
            self._local_id,
            self._peer_id,
            c.received_seq,
            c.received_head,
            tag,
        )
        return encode_ack(ack)

    def receive_ack(self, data: bytes) -> list[Event]:
        """Take the peer's delivery ack for our envelopes (either version)."""
        if data[:3] == v2.ACK_PREFIX:
            channel_id, seq, head, tag = v2.open_ack(self._wire.recv_control, data)
            if channel_id != self.channel_id:
                raise RemoteProtocolError("this belongs to another channel")
        else:
            ack = parse_ack(data)
            self._check_addressing(ack.channel_id, ack.sender, ack.receiver)
            seq, head, tag = ack.seq, ack.head, ack.tag
        if not self._chain.ack_valid(self._state.mac_key, tag, seq, head):
            raise AuthenticationFailed
        previous = self.acked_seq
        fork = self._chain.apply_ack(seq, head)
        if fork is not None:
            return self._alarm(fork)
        if seq < previous:
            return [AckBehind(seq, previous)]
        return [Delivered(seq)] if seq > previous else []

    def receive(self, data: bytes, now: float, known_hash: bytes | None = None) -> list[Event]:
        """Process one envelope from the peer; raise without any change if it is refused.

        ``known_hash``: the hash of the peer envelope with this sequence number that
        the driver's archive holds, if it holds one (older ones than the transcript's
        window of recent hashes), so that a different envelope at a position already
        processed is told from a retransmission however old it is.
        """
        envelope = self.read(data)
        hashed = envelope_hash(data)
        arrival = self._chain.classify(envelope.seq, hashed, self.policy.max_gap, known_hash)
        if arrival is Arrival.DUPLICATE:
            return [DuplicateReceived(envelope.seq)]
        self._check_floor(envelope)
        if arrival is Arrival.CONFLICT:
            return self._conflict(envelope)
        if arrival is Arrival.EARLY:
            return self._hold(envelope, data)
        events = self._process(envelope, hashed)
        return events + self._drain_held()

    def read(self, data: bytes) -> Envelope:
        """An envelope of either version, its position unmasked; changes nothing."""
        if data[:3] == v2.ENVELOPE_PREFIX:
            envelope = v2.read(data, self._wire, (self._peer_id, self._local_id))
            if envelope.channel_id != self.channel_id:
                raise RemoteProtocolError("this belongs to another channel")
            return envelope
        header, body = parse_envelope(data)
        self._check_addressing(header.channel_id, header.sender, header.receiver)
        item_class(header.item_type)
        return Envelope(
            1, header.channel_id, header.seq, header.epoch, header.renewal, header.nonce,
            header.item_type, associated_data(header), body,
        )  # fmt: skip

    def _check_floor(self, envelope: Envelope) -> None:
        if envelope.version < self._state.peer_floor:
            raise RemoteProtocolError(
                f"a version-{envelope.version} envelope on a channel the peer moved to "
                f"version {self._state.peer_floor}: refused (no way back down)"
            )

    # -- comparing heads (heads.py) ----------------------------------------------------

    def heads_probe(self, nonce: bytes) -> bytes:
        """Ask the peer for its heads; keep ``nonce`` (16 random bytes) for the answer."""
        probe = HeadsProbe(self.channel_id, self._local_id, self._peer_id, nonce, b"")
        probe = msgspec.structs.replace(probe, auth=probe_tag(self._state.mac_key, probe))
        return self._seal_heads(probe)

    def answer_heads(self, data: bytes) -> bytes:
        """The peer's probe, answered with our heads (changes nothing)."""
        probe = self._peer_message(data, HeadsProbe)
        c = self._chain.state
        heads = Heads(
            self.channel_id,
            self._local_id,
            self._peer_id,
            probe.nonce,
            c.sent_seq,
            c.sent_head,
            c.received_seq,
            c.received_head,
            c.acked_seq,
            b"",
        )
        heads = msgspec.structs.replace(heads, auth=heads_tag(self._state.mac_key, heads))
        return self._seal_heads(heads)

    def positions(self) -> Ours:
        """Our positions now: keep them with a probe's nonce for :meth:`check_heads`."""
        c = self._chain.state
        return Ours(c.sent_seq, c.acked_seq, c.received_seq, c.received_head)

    def check_heads(self, data: bytes, nonce: bytes, asked: Ours) -> list[Event]:
        """The peer's answer to our probe with ``nonce``: went back, fork, or matched.

        ``asked``: our :meth:`positions` when the probe went out.
        """
        heads = self._peer_message(data, Heads)
        if heads.nonce != nonce:
            raise RemoteProtocolError("the heads answer is not for our probe")
        verdict = compare(self.positions(), asked, heads, self._chain.our_hash_if_held)
        if verdict is None:
            return [HeadsMatched()]
        who, reason = verdict
        alarm = self._alarm(reason)
        return alarm if who == "fork" else [*alarm, WentBack(who, reason)]

    def went_back_notice(self, who: Found) -> bytes:
        """Tell the peer that ``who`` (from our side) went back, or that the transcripts
        forked: it stops the channel too."""
        notice = WentBackNotice(self.channel_id, self._local_id, self._peer_id, who, b"")
        notice = msgspec.structs.replace(notice, auth=notice_tag(self._state.mac_key, notice))
        return self._seal_heads(notice)

    def receive_notice(self, data: bytes) -> list[Event]:
        """The peer found that one of us went back."""
        notice = self._peer_message(data, WentBackNotice)
        if notice.who == "fork":
            return self._alarm("the counterpart found that the transcripts differ")
        who: Side = "peer" if notice.who == "us" else "us"
        reason = (
            "the counterpart found that its own state went back to an earlier copy"
            if who == "peer"
            else "the counterpart found that this station's state went back to an earlier copy"
        )
        return [*self._alarm(reason), WentBack(who, reason)]

    def heads_message(self, data: bytes) -> HeadsProbe | Heads | WentBackNotice:
        """A heads message from the peer, opened (version 2) and decoded; not yet checked."""
        if data[:3] == v2.HEADS_PREFIX:
            data = v2.open_heads(self._wire.recv_control, data)
        return decode_message(data)

    def _seal_heads(self, message: HeadsProbe | Heads | WentBackNotice) -> bytes:
        nonce = self._rng(NONCE_BYTES)
        return v2.seal_heads(
            self._wire.send_control, self.channel_id, nonce, encode_message(message)
        )

    def _peer_message(self, data: bytes, kind: type[HeadsT]) -> HeadsT:
        message = self.heads_message(data)
        if not isinstance(message, kind):
            raise RemoteProtocolError("not the heads message expected here")
        self._check_addressing(message.channel_id, message.sender, message.receiver)
        check_tag(self._state.mac_key, message)
        return message

    # -- cover traffic -----------------------------------------------------------------

    def filler(self) -> bytes:
        """An envelope that carries nothing, for a stream at a constant rate: the peer
        tells it from an item, an observer does not (``envelope.make_filler``)."""
        if self._state.peer_floor < v2.VERSION:
            raise LocalProtocolError("cover traffic needs a channel of envelope version 2")
        ids = (self._local_id, self._peer_id)
        return v2.make_filler(self._wire, self.channel_id, ids, self._rng(v2.NONCE_BYTES))

    def is_filler(self, data: bytes) -> bool:
        """Whether ``data`` is the peer's filler (changes nothing); AuthenticationFailed
        for a forged one.  ``receive`` refuses fillers: position 0 holds no item."""
        return v2.is_filler(data, self._wire, (self._peer_id, self._local_id))

    # -- witnessed audit heads (witness.py) --------------------------------------------

    def witness_query(self, nonce: bytes, after: int) -> bytes:
        """Ask the peer for the heads of our audit trail it holds past ``after``;
        keep ``nonce`` (16 random bytes) for the answer."""
        query = witness.WitnessQuery(nonce, after)
        return witness.seal(self._wire.send_control, self.channel_id, self._rng(12), query)

    def read_witness_query(self, data: bytes) -> witness.WitnessQuery:
        """The peer's query, if it is genuine (it changes nothing)."""
        query = witness.open_message(self._wire.recv_control, data, witness.WitnessQuery)
        assert isinstance(query, witness.WitnessQuery)
        return query

    def witness_page(
        self, query: witness.WitnessQuery, heads: list[tuple[int, bytes]], more: bool
    ) -> bytes:
        """The answer to the peer's query: heads of its trail we hold, by position."""
        page = witness.WitnessPage(query.nonce, tuple(heads), more)
        return witness.seal(self._wire.send_control, self.channel_id, self._rng(12), page)

    def read_witness_page(self, data: bytes, nonce: bytes) -> witness.WitnessPage:
        """The peer's answer to our query with ``nonce``, checked."""
        page = witness.open_message(self._wire.recv_control, data, witness.WitnessPage)
        assert isinstance(page, witness.WitnessPage)
        if page.nonce != nonce:
            raise RemoteProtocolError("the witness answer is not for our query")
        page.check()
        return page

    # -- internals ---------------------------------------------------------------------

    def _conflict(self, envelope: Envelope) -> list[Event]:
        """A different envelope at a position already processed.

        If it opens under our current outer key it is the peer's (its state went back,
        or it forked): an alarm.  If not, anyone could have sent it: refused.
        """
        try:
            self._outer.open(envelope)
        except RemoteProtocolError:
            raise ConflictingEnvelope(
                f"envelope {envelope.seq} conflicts with the one already received"
            ) from None
        return self._alarm(f"the peer sent a different envelope {envelope.seq} than the one held")

    def _check_addressing(self, channel_id: bytes, sender: bytes, receiver: bytes) -> None:
        if channel_id != self.channel_id:
            raise RemoteProtocolError("this belongs to another channel")
        if sender != self._peer_id or receiver != self._local_id:
            raise RemoteProtocolError("sender or receiver is not this channel's pair of stations")

    def _hold(self, envelope: Envelope, data: bytes) -> list[Event]:
        """Keep an early envelope, but only once the outer layer vouches for it."""
        # Only the holder of the outer key can fill the hold buffer; what cannot be
        # checked yet (an epoch whose renewal is in the gap) waits for retransmission.
        self._outer.open(envelope)
        seq = envelope.seq
        if self._chain.holds_other(seq, data):  # two authentic envelopes at one seq
            return self._alarm(f"the peer sent two different envelopes {seq}")
        if not self._chain.hold(seq, data, self.policy.max_held_bytes):
            raise RemoteProtocolError("too many envelopes held back; retransmit after the gap")
        return [EnvelopeHeld(seq)]

    def _drain_held(self) -> list[Event]:
        events: list[Event] = []
        while (held := self._chain.next_held()) is not None:
            seq, data = held
            try:
                envelope = self.read(data)
                self._check_floor(envelope)
                events += self._process(envelope, envelope_hash(data))
            except RemoteProtocolError as exc:
                events.append(HeldEnvelopeDiscarded(seq, str(exc)))
                break
        return events

    def _process(self, envelope: Envelope, hashed: bytes) -> list[Event]:
        plaintext, renewal = self._outer.open(envelope)
        if envelope.version >= v2.VERSION:
            plaintext = v2.unpad_plaintext(plaintext)
        inner_bytes = self._decrypt_olm(plaintext)
        try:
            opened = self._open_inner(envelope, inner_bytes, renewal, hashed)
            fork = self._chain.fork_in_links(
                opened.inner.prev_hash, opened.inner.peer_seq, opened.inner.peer_hash
            )
            if fork is not None:
                raise _ForkError(fork)
            events = self._apply_item(opened)
        except _ForkError as fork:
            self._stash(plaintext, inner_bytes)
            return self._alarm(str(fork))
        except Exception:
            self._stash(plaintext, inner_bytes)
            raise
        events += self._outer.commit_receive(opened.renewal, opened.inner.offer)
        self._chain.record_received(envelope.seq, opened.envelope_hash, opened.inner.peer_seq)
        self._state.peer_floor = max(self._state.peer_floor, envelope.version)
        received = ItemReceived(
            envelope.seq,
            opened.envelope_hash,
            opened.inner.prev_hash,
            opened.inner.peer_seq,
            opened.inner.peer_hash,
            opened.item,
        )
        return [received, *events]

    def _decrypt_olm(self, plaintext: bytes) -> bytes:
        """Open the Olm layer; a failure here changes nothing (vodozemac checks first)."""
        stash = self._state.olm_stash
        if stash:
            kept = stash.pop(hash_bytes("olm", plaintext), None)
            if kept is not None:
                return kept
        try:
            message = vodozemac.AnyOlmMessage.from_parts(plaintext[0], plaintext[1:])
            return self._session.decrypt(message)
        except (vodozemac.DecodeException, vodozemac.OlmDecryptionException, IndexError):
            raise AuthenticationFailed from None

    def _stash(self, plaintext: bytes, inner_bytes: bytes) -> None:
        stash = self._state.olm_stash
        stash[hash_bytes("olm", plaintext)] = inner_bytes
        while len(stash) > MAX_STASHED:
            del stash[next(iter(stash))]

    def _open_inner(
        self,
        envelope: Envelope,
        inner_bytes: bytes,
        renewal: PendingRenewal | None,
        hashed: bytes,
    ) -> _Opened:
        # Olm authenticated these bytes and they are never hashed: no canonical check.
        kind: type[Inner | InnerV2] = InnerV2 if envelope.version >= v2.VERSION else Inner
        inner: Inner | InnerV2 = decode(
            inner_bytes, kind, limit=MAX_INNER_BYTES, what="inner payload", canonical=False
        )
        if inner.header_digest != hash_bytes("header", envelope.ad):
            raise AuthenticationFailed
        item_type = inner.item_type if isinstance(inner, InnerV2) else envelope.item_type
        if item_type is None:  # a version-1 header always names it; never reached
            raise AuthenticationFailed
        item = decode_item(item_type, inner.item)
        if inner.offer is not None:
            check_offer(inner.offer)
        return _Opened(envelope, inner, item, renewal, hashed)

    def _apply_item(self, opened: _Opened) -> list[Event]:
        """Check the item against the channel state; return events, change nothing yet."""
        item = opened.item
        if not item.pairing and self._state.pairing is not Pairing.ACTIVE:
            raise RemoteProtocolError("the peer sent an item before both sides confirmed")
        if isinstance(item, PairingConfirm):
            return self._peer_confirmed(item)
        if isinstance(item, Checkpoint):
            return self._check_checkpoint(item, opened.envelope.seq)
        return []

    def _peer_confirmed(self, item: PairingConfirm) -> list[Event]:
        if item.safety_digest != self._safety_digest():
            raise RemoteProtocolError("the peer confirmed a different safety number")
        state = advance(
            PAIRING_TABLE, self._state.pairing, PairingInput.PEER_CONFIRM, RemoteProtocolError
        )
        self._state.pairing = state
        events: list[Event] = [PeerConfirmed()]
        return [*events, ChannelActive()] if state is Pairing.ACTIVE else events

    def _check_checkpoint(self, cp: Checkpoint, seq: int) -> list[Event]:
        heads = (cp.sent_seq, cp.sent_head, cp.received_seq, cp.received_head)
        if not self._chain.checkpoint_valid(self._state.mac_key, cp.tag, heads):
            raise AuthenticationFailed
        c = self._chain.state
        if cp.sent_seq != seq - 1 or cp.sent_head != c.received_head:
            raise _ForkError("the peer's checkpoint of its own chain differs from ours")
        ours = self._chain.our_hash(cp.received_seq)
        if ours is not None and ours != cp.received_head:
            raise _ForkError("the peer's checkpoint of our chain differs from ours")
        return [CheckpointMatched(cp.sent_seq, cp.received_seq)]

    def _alarm(self, reason: str) -> list[Event]:
        self._state.fork_alarm = self._state.fork_alarm or reason
        return [ForkDetected(reason)]

    # -- persistence -------------------------------------------------------------------

    def snapshot(self, key: bytes) -> bytes:
        """All state, sealed with the caller's 32-byte key."""
        self._state.olm_session = self._session.pickle(olm_pickle_key(key))
        return seal(key, SNAPSHOT_KIND, encode(self._state))

    @classmethod
    def restore(
        cls, data: bytes, key: bytes, policy: ChannelPolicy | None = None, rng: Rng = os.urandom
    ) -> Channel:
        plain = unseal(key, SNAPSHOT_KIND, data)
        state = decode(
            plain,
            ChannelState,
            limit=MAX_SNAPSHOT_BYTES,
            what="channel snapshot",
            error=LocalProtocolError,
            canonical=False,  # sealed by us; and older ones lack the newer fields
        )
        try:
            session = vodozemac.Session.from_pickle(state.olm_session, olm_pickle_key(key))
        except vodozemac.PickleException:  # found by fuzzing (fuzz/crashes/snapshot/)
            raise LocalProtocolError("channel snapshot: its Olm session does not open") from None
        return cls(state, session, policy, rng)


HeadsT = TypeVar("HeadsT", HeadsProbe, Heads, WentBackNotice)


class _ForkError(Exception):
    """Internal: an authenticated envelope contradicts our transcript."""
