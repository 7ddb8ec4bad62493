"""In-memory fixtures: a controllable clock and a pair of paired stations.

Other packages' tests reuse these to drive the protocol core without sockets.
``SimulatedStation`` behaves like a real station's driver: it persists a sealed
snapshot together with its outbox, inbox and transcript after every step, and
can crash back to the last persisted state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from backchannel.protocol import (
    Channel,
    ChannelPolicy,
    Event,
    Identity,
    Item,
    ItemReceived,
    SentEnvelope,
    accept_invitation,
    complete_pairing,
    create_invitation,
)

START_TIME = 1_800_000_000.0


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = START_TIME) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class _Durable:
    snapshot: bytes
    outbox: dict[int, bytes]
    inbox: list[Item]
    sent_log: list[tuple[int, bytes]]
    received_log: list[tuple[int, bytes]]


@dataclass
class SimulatedStation:
    """One side of a channel with an outbox, an inbox and crash-restore."""

    name: str
    channel: Channel
    clock: Clock
    key: bytes = field(default_factory=lambda: os.urandom(32), repr=False)
    outbox: dict[int, bytes] = field(default_factory=dict)
    inbox: list[Item] = field(default_factory=list)
    sent_log: list[tuple[int, bytes]] = field(default_factory=list)
    received_log: list[tuple[int, bytes]] = field(default_factory=list)
    durable: _Durable | None = None

    def persist(self) -> None:
        self.durable = _Durable(
            self.channel.snapshot(self.key),
            dict(self.outbox),
            list(self.inbox),
            list(self.sent_log),
            list(self.received_log),
        )

    def crash(self) -> None:
        """Lose everything not persisted, as a killed process would."""
        assert self.durable is not None
        d = self.durable
        self.channel = Channel.restore(d.snapshot, self.key, self.channel.policy)
        self.outbox, self.inbox = dict(d.outbox), list(d.inbox)
        self.sent_log, self.received_log = list(d.sent_log), list(d.received_log)

    def send(self, item: Item) -> bytes:
        """Encrypt, persist, then hand the envelope out (write-ahead)."""
        data = self.encrypt_only(item)
        self.persist()
        return data

    def encrypt_only(self, item: Item) -> bytes:
        """Encrypt and record in memory without persisting (for crash tests)."""
        return self._record(self.channel.send(item, self.clock()))

    def confirm(self) -> bytes:
        """Our admin confirmed the safety number; persist, then hand the envelope out."""
        data = self._record(self.channel.send_confirmation(self.clock()))
        self.persist()
        return data

    def _record(self, sent: SentEnvelope) -> bytes:
        self.outbox[sent.seq] = sent.data
        self.sent_log.append((sent.seq, sent.envelope_hash))
        return sent.data

    def receive(self, data: bytes, persist: bool = True) -> tuple[list[Event], bytes]:
        """Process an envelope; persist, then return the events and the ack to send back."""
        events = self.channel.receive(data, self.clock())
        for event in events:
            if isinstance(event, ItemReceived):
                self.inbox.append(event.item)
                self.received_log.append((event.seq, event.envelope_hash))
        if persist:
            self.persist()
        return events, self.channel.ack()

    def take_ack(self, ack: bytes) -> list[Event]:
        events = self.channel.receive_ack(ack)
        self.outbox = {s: d for s, d in self.outbox.items() if s > self.channel.acked_seq}
        self.persist()
        return events


@dataclass
class ChannelPair:
    """Two stations, A (the inviter) and B, paired and by default confirmed."""

    a: SimulatedStation
    b: SimulatedStation
    clock: Clock

    @classmethod
    def create(
        cls, policy: ChannelPolicy | None = None, confirm: bool = True, version: int = 2
    ) -> ChannelPair:
        """A paired channel; ``version=1``: one paired, and sending, as before version 2
        (for the tests of the version-1 reader that old channels still need)."""
        if version == 1:
            policy = replace(policy or ChannelPolicy(), send_version=1)
        clock = Clock()
        ida = Identity.generate("Ministry of Defence of Aurelia", "aurelia-1")
        idb = Identity.generate("Ministry of Defence of Borduria", "borduria-1")
        pending = create_invitation(ida, "https://a.example", clock())
        chan_b, acceptance = accept_invitation(
            idb, pending.invitation, "https://b.example", clock(), policy=policy
        )
        chan_a = complete_pairing(ida, pending, acceptance, clock(), policy=policy)
        if version == 1:
            chan_a._state.peer_floor = chan_b._state.peer_floor = 1
        pair = cls(
            SimulatedStation("A", chan_a, clock), SimulatedStation("B", chan_b, clock), clock
        )
        pair.a.persist()
        pair.b.persist()
        if confirm:
            pair.confirm_both()
        return pair

    def confirm_both(self) -> None:
        for side, other in ((self.a, self.b), (self.b, self.a)):
            self.deliver(side.confirm(), other)

    def other(self, side: SimulatedStation) -> SimulatedStation:
        return self.b if side is self.a else self.a

    def deliver(self, data: bytes, to: SimulatedStation) -> list[Event]:
        """Deliver one envelope and carry its ack back to the sender."""
        events, ack = to.receive(data)
        self.other(to).take_ack(ack)
        return events

    def send(self, side: SimulatedStation, item: Item) -> list[Event]:
        """Send one item and deliver it at once."""
        return self.deliver(side.send(item), self.other(side))

    def flush(self) -> None:
        """Retransmit every outbox, oldest first, until both are empty."""
        for _ in range(10_000):
            pending = [(s, seq, d) for s in (self.a, self.b) for seq, d in sorted(s.outbox.items())]
            if not pending:
                return
            for side, _seq, data in pending:
                if data in side.outbox.values():
                    self.deliver(data, self.other(side))
        raise AssertionError("outboxes did not drain")
