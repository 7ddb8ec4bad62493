"""Channel behaviour: ordering, renewal, acks, checkpoints, forks and snapshots."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import msgspec
import pytest

from backchannel.protocol import (
    Ack,
    Channel,
    ChannelPolicy,
    CheckpointMatched,
    Delivered,
    DuplicateReceived,
    EnvelopeHeld,
    EpochRenewed,
    ForkDetected,
    ItemReceived,
    LocalProtocolError,
    Message,
    RemoteProtocolError,
    envelope_hash,
)
from backchannel.protocol.items import Item, decode_item, encode_item, register_item_type
from backchannel.testing import ChannelPair

KEY = bytes(range(32))


def msg(text: str = "hello", **kw: object) -> Message:
    fields: dict[str, object] = {
        "text": text,
        "language": "en",
        "from_role": "officer",
        "to_role": "principal",
    }
    fields.update(kw)
    return Message(**fields)  # type: ignore[arg-type]


def received(events: Sequence[object]) -> list[Item]:
    return [e.item for e in events if isinstance(e, ItemReceived)]


def test_items_flow_both_ways_and_links_cross() -> None:
    pair = ChannelPair.create()
    deadline = datetime(2030, 1, 1, tzinfo=UTC)
    events = pair.send(pair.a, msg("offer", ack_deadline=deadline))
    [item] = received(events)
    assert item == msg("offer", ack_deadline=deadline)
    item_hash = next(e.envelope_hash for e in events if isinstance(e, ItemReceived))
    events = pair.send(pair.b, Ack(item_hash=item_hash, note="seen"))
    [event] = [e for e in events if isinstance(e, ItemReceived)]
    assert event.peer_hash == item_hash  # B's envelope names A's newest envelope
    assert pair.a.received_log == pair.b.sent_log
    assert pair.b.received_log == pair.a.sent_log


def test_out_of_order_envelopes_are_held_until_the_gap_fills() -> None:
    pair = ChannelPair.create()
    first, second, third = (pair.a.send(msg(str(n))) for n in range(3))
    assert pair.b.channel.receive(third, pair.clock()) == [EnvelopeHeld(pair.a.channel.sent_seq)]
    assert pair.b.channel.receive(second, pair.clock())[0] == EnvelopeHeld(
        pair.a.channel.sent_seq - 1
    )
    events = pair.b.channel.receive(first, pair.clock())
    assert [m.text for m in received(events) if isinstance(m, Message)] == ["0", "1", "2"]


def test_duplicate_gets_the_same_ack_and_changes_nothing() -> None:
    pair = ChannelPair.create()
    data = pair.a.send(msg())
    _, ack = pair.b.receive(data)
    events, again = pair.b.receive(data)
    assert events == [DuplicateReceived(pair.a.channel.sent_seq)]
    assert len(again) == len(ack) and again != ack  # the same ack under a fresh nonce
    assert pair.a.take_ack(ack) == [Delivered(pair.a.channel.sent_seq)]
    assert pair.a.take_ack(ack) == []  # an old ack is harmless


def test_sequence_jump_beyond_the_gap_is_refused() -> None:
    pair = ChannelPair.create(ChannelPolicy(max_gap=4))
    envelopes = [pair.a.send(msg(str(n))) for n in range(6)]
    with pytest.raises(RemoteProtocolError, match="exceeds the limit of 4"):
        pair.b.channel.receive(envelopes[-1], pair.clock())
    for data in envelopes:
        pair.b.channel.receive(data, pair.clock())
    assert pair.b.channel.received_seq == pair.a.channel.sent_seq


@pytest.mark.parametrize("by", ["items", "time"])
def test_epochs_renew_and_old_keys_are_forgotten(by: str) -> None:
    policy = (
        ChannelPolicy(renew_after_items=2)
        if by == "items"
        else ChannelPolicy(renew_after_items=10**6, renew_after_seconds=60)
    )
    pair = ChannelPair.create(policy)
    pair.send(pair.b, msg("B offers its KEM key with this one"))
    keys_seen = {pair.b.channel._outer.state.recv_key}
    renewed = []
    for n in range(6):
        pair.clock.advance(61 if by == "time" else 0)
        events = pair.send(pair.a, msg(str(n)))
        renewed += [e for e in events if isinstance(e, EpochRenewed)]
        keys_seen.add(pair.b.channel._outer.state.recv_key)
        # B answers now and then, which carries its next offer.
        pair.send(pair.b, msg(f"re {n}"))
    assert len(renewed) >= 2
    assert pair.a.channel.epochs[0] == pair.b.channel.epochs[1] >= 2
    assert len(keys_seen) >= 3
    # The spent offers' private keys are gone; one fresh offer remains.
    assert len(pair.b.channel._outer.state.offers) == 1


def test_an_epoch_begun_in_the_future_renews_at_once() -> None:
    """An epoch begun under a clock that ran ahead does not wait for it to catch up."""
    pair = ChannelPair.create(ChannelPolicy(renew_after_items=10**6, renew_after_seconds=60))
    pair.send(pair.b, msg("B offers its KEM key with this one"))
    pair.a.channel._outer.state.send_started_at = pair.clock() + 365 * 24 * 3600
    events = pair.send(pair.a, msg("the clock was set right"))
    assert [e for e in events if isinstance(e, EpochRenewed)]
    assert pair.a.channel._outer.state.send_started_at == pair.clock()


def test_renewal_waits_for_an_offer_in_one_way_traffic() -> None:
    pair = ChannelPair.create(ChannelPolicy(renew_after_items=2))
    for n in range(8):
        pair.send(pair.a, msg(str(n)))
    first_epoch = pair.a.channel.epochs[0]
    for n in range(4):
        pair.send(pair.a, msg(str(n)))
    assert pair.a.channel.epochs[0] == first_epoch  # no fresh offer from B yet
    pair.send(pair.b, msg("reply carries an offer"))
    pair.send(pair.a, msg("now it renews"))
    assert pair.a.channel.epochs[0] == first_epoch + 1


def test_checkpoints_match_in_both_directions() -> None:
    pair = ChannelPair.create()
    for n in range(3):
        pair.send(pair.a, msg(str(n)))
    events = pair.deliver(pair.a.channel.send_checkpoint(pair.clock()), pair.b)
    assert CheckpointMatched(pair.a.channel.sent_seq - 1, pair.b.channel.sent_seq) in events
    events = pair.deliver(pair.b.channel.send_checkpoint(pair.clock()), pair.a)
    assert any(isinstance(e, CheckpointMatched) for e in events)


def test_checkpoint_mismatch_raises_the_fork_alarm() -> None:
    pair = ChannelPair.create()
    pair.send(pair.a, msg())
    pair.a.channel._chain.state.received_head = bytes(32)  # A's view of B's chain diverges
    events = pair.b.channel.receive(pair.a.channel.send_checkpoint(pair.clock()), pair.clock())
    assert [type(e) for e in events] == [ForkDetected]
    assert pair.b.channel.fork_alarm is not None


def test_diverging_chain_raises_the_fork_alarm() -> None:
    pair = ChannelPair.create()
    pair.send(pair.a, msg("the real one"))
    # A's record of its own chain diverges (say, a bad restore from an old backup):
    pair.a.channel._chain.state.sent_head = bytes(32)
    later = pair.a.channel.send_item(msg("later"), pair.clock())
    events = pair.b.channel.receive(later, pair.clock())
    assert [type(e) for e in events] == [ForkDetected]
    assert "does not follow" in (pair.b.channel.fork_alarm or "")
    assert pair.b.channel.received_seq == pair.a.channel.sent_seq - 1


def test_rolled_back_sender_cannot_replace_a_received_envelope() -> None:
    pair = ChannelPair.create()
    before = pair.a.channel.snapshot(KEY)
    pair.send(pair.a, msg("the real one"))
    pair.a.channel = Channel.restore(before, KEY)
    other = pair.a.channel.send_item(msg("a different one"), pair.clock())
    inbox = list(pair.b.inbox)
    # It authenticates (the sender's state went back): a fork alarm, never an item.
    assert [type(e) for e in pair.b.channel.receive(other, pair.clock())] == [ForkDetected]
    assert pair.b.channel.fork_alarm is not None and pair.b.inbox == inbox
    forged = other[:-1] + bytes([other[-1] ^ 1])  # one that does not open: refused
    with pytest.raises(RemoteProtocolError, match="conflicts"):
        pair.b.channel.receive(forged, pair.clock())


def test_two_different_early_envelopes_at_one_position_raise_the_fork_alarm() -> None:
    """Found by the model of delivery (model/delivery.pml): the first early copy of a
    position used to win in silence, so a sender put back and sending that position
    again, the first copy still in flight, went unnoticed by the receiver."""
    pair = ChannelPair.create()
    pair.a.channel.send_item(msg("one"), pair.clock())  # not delivered yet
    before = pair.a.channel.snapshot(KEY)
    early = pair.a.channel.send_item(msg("two"), pair.clock())
    position = pair.a.channel.sent_seq
    pair.a.channel = Channel.restore(before, KEY)  # A's storage put back
    other = pair.a.channel.send_item(msg("two, again"), pair.clock())
    assert [type(e) for e in pair.b.channel.receive(early, pair.clock())] == [EnvelopeHeld]
    assert [type(e) for e in pair.b.channel.receive(early, pair.clock())] == [EnvelopeHeld]
    assert [type(e) for e in pair.b.channel.receive(other, pair.clock())] == [ForkDetected]
    assert pair.b.channel.fork_alarm == f"the peer sent two different envelopes {position}"


def test_ack_naming_a_different_envelope_raises_the_fork_alarm() -> None:
    pair = ChannelPair.create()
    data = pair.a.send(msg())
    _, ack = pair.b.receive(data)
    pair.a.channel._chain.state.unacked[pair.a.channel.sent_seq] = bytes(32)
    assert [type(e) for e in pair.a.channel.receive_ack(ack)] == [ForkDetected]


def test_snapshot_restores_everything_and_needs_its_key() -> None:
    pair = ChannelPair.create(ChannelPolicy(renew_after_items=10**6, renew_after_seconds=60))
    for n in range(5):
        pair.clock.advance(61)  # renew on every round
        pair.send(pair.a, msg(str(n)))
        pair.send(pair.b, msg(str(n)))
    assert pair.b.channel.epochs[1] >= 2
    held = pair.a.send(msg("held"))
    pending = pair.a.send(msg("pending"))
    pair.b.channel.receive(pending, pair.clock())  # held at B
    sealed = pair.b.channel.snapshot(KEY)
    assert b"held" not in sealed and pair.b.channel.peer.party.encode() not in sealed
    restored = Channel.restore(sealed, KEY)
    assert msgspec.to_builtins(restored._state) == msgspec.to_builtins(pair.b.channel._state)
    events = restored.receive(held, pair.clock())
    assert [m.text for m in received(events) if isinstance(m, Message)] == ["held", "pending"]
    with pytest.raises(LocalProtocolError, match="does not open"):
        Channel.restore(sealed, bytes(32))
    with pytest.raises(LocalProtocolError, match="does not open"):
        Channel.restore(sealed[:-1] + bytes([sealed[-1] ^ 1]), KEY)


def test_items_are_validated_before_sending() -> None:
    pair = ChannelPair.create()
    bad = [
        msg(""),
        msg("   "),
        msg("x" * (64 * 1024 + 1)),
        msg(language="english"),
        Ack(item_hash=bytes(32), note="n" * (64 * 1024 + 1)),
    ]
    for item in bad:
        with pytest.raises(LocalProtocolError):
            pair.a.channel.send_item(item, pair.clock())
    assert pair.a.channel.sent_seq == 1  # only its confirmation went out


def test_item_registry_is_open_and_checked() -> None:
    class Note(Item, frozen=True):
        item_type = "test-note"
        body: str

    register_item_type(Note)
    register_item_type(Note)  # idempotent for the same class
    pair = ChannelPair.create()
    assert received(pair.send(pair.a, Note("x"))) == [Note("x")]

    class Clash(Item, frozen=True):
        item_type = "test-note"

    with pytest.raises(LocalProtocolError, match="already registered"):
        register_item_type(Clash)

    class Unregistered(Item, frozen=True):
        item_type = "never-registered"

    with pytest.raises(LocalProtocolError, match=r"not a registered item type|unknown"):
        pair.a.channel.send_item(Unregistered(), pair.clock())

    class BadName(Item, frozen=True):
        item_type = "Bad Name"

    with pytest.raises(LocalProtocolError, match="bad item type name"):
        register_item_type(BadName)


def test_envelope_hash_is_over_exact_bytes() -> None:
    pair = ChannelPair.create()
    data = pair.a.send(msg())
    assert envelope_hash(data) == pair.a.sent_log[-1][1]
    assert envelope_hash(data + b"\x00") != envelope_hash(data)


def test_envelope_sizes_quoted_in_the_docs() -> None:
    # docs/protocol.md quotes these; this test is the command that reproduces them.
    pair = ChannelPair.create()
    assert len(pair.a.send(msg("x" * 1024))) == 1344
    assert len(pair.a.send(msg("x"))) == 1024
    old = ChannelPair.create(version=1)
    assert len(old.a.send(msg("x" * 1024))) == 1320
    assert len(old.a.send(msg("x"))) == 295


def test_a_reply_and_a_display_name_keep_their_limits() -> None:
    """A reply names one item by its whole hash; a display name is one short line.
    Both are refused when they are sent and when they arrive; an older message without
    them still reads."""
    plain = Message(text="hi", language="en", from_role="officer", to_role="principal")
    fine = msgspec.structs.replace(plain, reply_to=b"\x01" * 32, from_name="Olga Ivanova")
    assert decode_item("message", encode_item(fine)) == fine
    bad = {
        "a short hash": msgspec.structs.replace(plain, reply_to=b"\x01" * 5),
        "two lines": msgspec.structs.replace(plain, from_name="Olga\nIvanova"),
        "a control": msgspec.structs.replace(plain, from_name="Olga\x1b[31m"),
        "extra spaces": msgspec.structs.replace(plain, from_name=" Olga"),
        "too long": msgspec.structs.replace(plain, from_name="x" * 65),
    }
    for name, item in bad.items():
        with pytest.raises(LocalProtocolError):
            encode_item(item)
        raw = msgspec.msgpack.encode(item)
        with pytest.raises(RemoteProtocolError):
            decode_item("message", raw)
        assert name
    older = msgspec.msgpack.encode(["hi", "en", "officer", "principal", None, []])
    assert decode_item("message", older) == plain
