"""Two parties over a hostile network, as a Hypothesis state machine.

The network drops, duplicates, reorders and delays envelopes and acks; either
side may crash at any moment and come back from its last persisted snapshot,
including between encrypting an envelope and persisting it.  Whatever happens:
every delivered item is delivered once and in order, both transcripts converge
once the network heals, and no sequence number (so no key) is ever used for two
different envelopes.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from backchannel.protocol import (
    AuthenticationFailed,
    ChannelPolicy,
    ForkDetected,
    HeldEnvelopeDiscarded,
    Message,
    RemoteProtocolError,
)
from backchannel.testing import ChannelPair, SimulatedStation

POLICY = ChannelPolicy(renew_after_items=3, renew_after_seconds=50, max_gap=8)


def message(n: int) -> Message:
    return Message(text=f"item {n}", language="en", from_role="officer", to_role="principal")


class TwoParties(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.pair = ChannelPair.create(POLICY)
        self.network: list[tuple[str, bytes]] = []  # (receiver name, bytes): envelopes and acks
        self.accepted: dict[str, list[str]] = {"A": [], "B": []}  # texts persisted as sent
        self.wire: dict[tuple[str, int], bytes] = {}  # every envelope ever transmitted
        self.counter = 0

    def side(self, name: str) -> SimulatedStation:
        return self.pair.a if name == "A" else self.pair.b

    def transmit(self, sender: SimulatedStation, data: bytes) -> None:
        key = (sender.name, self.pair.other(sender).channel.read(data).seq)
        assert self.wire.setdefault(key, data) == data, f"{key} sent twice with different bytes"
        self.network.append((self.pair.other(sender).name, data))

    @rule(name=st.sampled_from("AB"))
    def send(self, name: str) -> None:
        sender = self.side(name)
        self.counter += 1
        text = f"item {self.counter}"
        self.transmit(sender, sender.send(message(self.counter)))
        self.accepted[name].append(text)

    @rule(name=st.sampled_from("AB"))
    def send_then_crash_before_persist(self, name: str) -> None:
        sender = self.side(name)
        self.counter += 1
        sender.encrypt_only(message(self.counter))
        sender.crash()  # the envelope never left; the item was never accepted

    @rule(name=st.sampled_from("AB"))
    def crash(self, name: str) -> None:
        self.side(name).crash()

    @rule(name=st.sampled_from("AB"))
    def retransmit(self, name: str) -> None:
        sender = self.side(name)
        for _seq, data in sorted(sender.outbox.items()):
            self.transmit(sender, data)

    @precondition(lambda self: self.network)
    @rule(index=st.integers(min_value=0), ack_lost=st.booleans(), crash_first=st.booleans())
    def deliver(self, index: int, ack_lost: bool, crash_first: bool) -> None:
        to_name, data = self.network.pop(index % len(self.network))
        receiver = self.side(to_name)
        if data[:2] == b"BA":
            receiver.take_ack(data)
            return
        early = receiver.channel.read(data).seq > receiver.channel.received_seq + 1
        try:
            events, ack = receiver.receive(data, persist=not crash_first)
        except RemoteProtocolError as exc:
            # Refused only: a jump beyond the gap limit, or an early envelope whose epoch
            # key depends on the missing one. The sender retransmits either later.
            assert "sequence jump" in str(exc) or (early and isinstance(exc, AuthenticationFailed))
            return
        assert not [e for e in events if isinstance(e, ForkDetected | HeldEnvelopeDiscarded)]
        if crash_first:
            receiver.crash()  # processed but never persisted: no ack goes out
            return
        if not ack_lost:
            self.network.append((self.pair.other(receiver).name, ack))

    @precondition(lambda self: self.network)
    @rule(index=st.integers(min_value=0))
    def duplicate(self, index: int) -> None:
        self.network.append(self.network[index % len(self.network)])

    @precondition(lambda self: self.network)
    @rule(index=st.integers(min_value=0))
    def drop(self, index: int) -> None:
        self.network.pop(index % len(self.network))

    @rule(seconds=st.sampled_from([1.0, 30.0, 120.0]))
    def wait(self, seconds: float) -> None:
        self.pair.clock.advance(seconds)

    @invariant()
    def delivered_once_in_order(self) -> None:
        for receiver, sender in (("A", "B"), ("B", "A")):
            texts = [m.text for m in self.side(receiver).inbox if isinstance(m, Message)]
            assert texts == self.accepted[sender][: len(texts)]

    def teardown(self) -> None:
        self.pair.flush()
        a, b = self.pair.a, self.pair.b
        for receiver, sender in ((a, b), (b, a)):
            texts = [m.text for m in receiver.inbox if isinstance(m, Message)]
            assert texts == self.accepted[sender.name]
            assert receiver.received_log == sender.sent_log
        for side in (a, b):
            assert side.channel.fork_alarm is None
            assert side.channel.acked_seq == side.channel.sent_seq


test_two_parties_stateful = TwoParties.TestCase
