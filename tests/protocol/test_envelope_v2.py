"""The version-2 wire: what an observer reads, tampering with each part, and migration.

The version-1 reader keeps its own tests (``test_adversarial.py``, on a pair paired
as before version 2); these are the same attacks on the layout that is sent now.
"""

from __future__ import annotations

import pytest

from backchannel.protocol import (
    AuthenticationFailed,
    ItemReceived,
    LocalProtocolError,
    Message,
    RemoteProtocolError,
    envelope_hash,
)
from backchannel.protocol import envelope as v2
from backchannel.protocol.errors import ConflictingEnvelope
from backchannel.protocol.padding import FLOOR, bucket, padme
from backchannel.station.core.batches import decode_batch, encode_batch
from backchannel.testing import ChannelPair

GENUINE_SEQ = 2  # each side's pairing confirmation was envelope 1


def message(text: str = "attack at dawn") -> Message:
    return Message(text=text, language="en", from_role="officer", to_role="principal")


@pytest.fixture
def pair() -> ChannelPair:
    return ChannelPair.create()


@pytest.fixture
def genuine(pair: ChannelPair) -> bytes:
    return pair.a.send(message())


def state_of(pair: ChannelPair) -> tuple[object, ...]:
    ch = pair.b.channel
    return (ch.received_seq, ch.epochs, ch.fork_alarm, dict(ch._chain.state.held))


def refused(pair: ChannelPair, data: bytes, error: type[Exception], match: str = "") -> None:
    before = state_of(pair)
    with pytest.raises(RemoteProtocolError) as info:
        pair.b.channel.receive(data, pair.clock())
    assert type(info.value) is error, repr(info.value)
    assert match in str(info.value)
    assert state_of(pair) == before


def accepted(pair: ChannelPair, data: bytes) -> None:
    events = pair.deliver(data, pair.b)
    assert isinstance(events[0], ItemReceived)
    assert events[0].item == message()


def xor_at(data: bytes, offset: int, delta: bytes) -> bytes:
    changed = bytes(a ^ b for a, b in zip(data[offset : offset + len(delta)], delta, strict=True))
    return data[:offset] + changed + data[offset + len(delta) :]


def seq_delta(old: int, new: int) -> bytes:
    """What an observer XORs into the masked position to move seq from old to new: it
    need not know the mask, only the old value (header protection is malleable)."""
    return (old ^ new).to_bytes(8, "big")


# -- what an observer sees ----------------------------------------------------------------


def test_the_wire_names_no_station_no_item_type_and_no_exact_size(pair: ChannelPair) -> None:
    a, b = pair.a.channel, pair.b.channel
    names = [b"message", b"checkpoint", b"Aurelia", b"Borduria", b"aurelia-1", b"borduria-1"]
    for text in ("ok", "x" * 500, "y" * 3000):
        data = pair.a.send(message(text))
        ack = pair.b.receive(data)[1]
        for secret in (a.local.station_id, b.local.station_id, *names):
            assert secret not in data and secret not in ack
        assert len(data) == bucket(len(data)) and len(data) >= FLOOR
        assert len(ack) == v2.ACK_BYTES == 119
        assert data[:3] == b"BC\x02" and ack[:3] == b"BA\x02"
    # The sequence number is masked: consecutive envelopes differ in every position byte.
    first, second = pair.a.send(message()), pair.a.send(message())
    assert first[32:56] != second[32:56]


def test_short_items_of_different_lengths_are_one_size(pair: ChannelPair) -> None:
    sizes = {len(pair.a.send(message("x" * n))) for n in (1, 50, 200, 400)}
    assert sizes == {FLOOR}


def test_padme_costs_at_most_twelve_percent_and_keeps_few_sizes() -> None:
    for length in range(FLOOR, 300_000, 997):
        assert length <= padme(length) <= length * 1.12
    assert len({padme(n) for n in range(FLOOR, 262_144)}) < 200


# -- tampering -----------------------------------------------------------------------------


def test_each_part_tampered_is_refused(pair: ChannelPair, genuine: bytes) -> None:
    cases = [
        (xor_at(genuine, 2, b"\x01"), RemoteProtocolError, "unsupported protocol version 3"),
        (xor_at(genuine, 3, b"\x02"), RemoteProtocolError, "unknown flags"),
        (xor_at(genuine, 3, b"\x01"), RemoteProtocolError, "too short"),  # no room for a KEM
        (xor_at(genuine, 4, b"\x01"), RemoteProtocolError, "another channel"),
        (xor_at(genuine, 20, b"\x01"), RemoteProtocolError, ""),  # nonce: the mask moves too
        (xor_at(genuine, 32, seq_delta(GENUINE_SEQ, 1)), ConflictingEnvelope, "conflicts"),
        (xor_at(genuine, 32, seq_delta(GENUINE_SEQ, 3)), AuthenticationFailed, ""),  # not held
        (xor_at(genuine, 40, b"\x00" * 7 + b"\x01"), AuthenticationFailed, ""),  # epoch
        (xor_at(genuine, 60, b"\x01"), AuthenticationFailed, ""),  # body
        (xor_at(genuine, len(genuine) - 1, b"\x01"), AuthenticationFailed, ""),  # tag
        (genuine[:-1], AuthenticationFailed, ""),
        (genuine[:50], RemoteProtocolError, "not a backchannel envelope"),
    ]
    for data, error, match in cases:
        refused(pair, data, error, match)
    assert pair.b.channel._chain.state.held == {}
    accepted(pair, genuine)


def test_an_envelope_read_with_the_wrong_direction_key_is_refused(
    pair: ChannelPair, genuine: bytes
) -> None:
    # A's own envelope reflected back to A: A unmasks with the key of B's direction.
    with pytest.raises(RemoteProtocolError):
        pair.a.channel.receive(genuine, pair.clock())
    accepted(pair, genuine)


def test_acks_are_sealed_per_direction(pair: ChannelPair, genuine: bytes) -> None:
    _events, ack = pair.b.receive(genuine)
    with pytest.raises(AuthenticationFailed):
        pair.b.channel.receive_ack(ack)  # B's own ack reflected to B
    with pytest.raises(AuthenticationFailed):
        pair.a.channel.receive_ack(xor_at(ack, 40, b"\x01"))
    with pytest.raises(RemoteProtocolError, match="not a backchannel acknowledgement"):
        pair.a.channel.receive_ack(ack + b"\x00")
    assert pair.a.take_ack(ack)


# -- batches ---------------------------------------------------------------------------------


def test_batches_are_padded_and_read_back(pair: ChannelPair) -> None:
    envelopes = [pair.a.send(message(str(n))) for n in range(3)]
    batch = encode_batch(envelopes)
    assert batch[:3] == b"BB\x02" and len(batch) == bucket(len(batch))
    assert decode_batch(batch) == envelopes
    for bad in (batch[:-1] + b"\x01", batch[:5], b"BB\x02\xff\xff\xff\xff"):
        with pytest.raises(RemoteProtocolError):
            decode_batch(bad)


# -- migration from version 1 ---------------------------------------------------------------


def upgraded(pair: ChannelPair) -> None:
    """Both stations run version-2 software on a channel paired as version 1."""
    for side in (pair.a, pair.b):
        side.channel.policy = type(side.channel.policy)(send_version=2)


def test_a_version_one_channel_moves_up_and_never_back_down() -> None:
    pair = ChannelPair.create(version=1)
    backlog = pair.a.send(message())  # sent as version 1 before the upgrade
    assert backlog[:3] == b"BC\x01"
    upgraded(pair)
    first = pair.a.send(message())
    assert first[:3] == b"BC\x02"
    _, ack = pair.b.receive(backlog)
    assert ack[:3] == b"BA\x01"  # the peer still sends version 1: answered in it
    events, ack = pair.b.receive(first)
    assert isinstance(events[0], ItemReceived)
    assert ack[:3] == b"BA\x02" and pair.a.take_ack(ack)
    # A version-1 envelope after that is refused, even a genuine one at a new position.
    pair.a.channel.policy = type(pair.a.channel.policy)(send_version=1)
    late = pair.a.send(message())
    refused(pair, late, RemoteProtocolError, "no way back down")
    # And the floor survives a restart.
    pair.b.crash()
    refused(pair, late, RemoteProtocolError, "no way back down")


def test_a_retransmitted_version_one_envelope_is_still_a_duplicate() -> None:
    pair = ChannelPair.create(version=1)
    old = pair.a.send(message())
    pair.deliver(old, pair.b)
    upgraded(pair)
    pair.deliver(pair.a.send(message()), pair.b)
    events, _ack = pair.b.receive(old)
    assert [type(e).__name__ for e in events] == ["DuplicateReceived"]
    assert envelope_hash(old) == pair.b.received_log[-2][1]


def test_a_filler_is_a_short_envelope_only_the_peer_tells_from_an_item(
    pair: ChannelPair, genuine: bytes
) -> None:
    a, b = pair.a.channel, pair.b.channel
    filler = a.filler()
    assert len(filler) == len(genuine) == v2.FILLER_BYTES  # one size with a short item
    assert filler[:4] == genuine[:4] and filler[4:20] == genuine[4:20]  # the same clear start
    assert b.is_filler(filler)
    assert not b.is_filler(genuine)
    assert not a.is_filler(filler)  # reflected: our own filler is no filler of the peer's
    with pytest.raises(RemoteProtocolError):  # position 0 holds no item
        b.receive(filler, pair.clock())
    before = b.positions()

    def flipped(at: int) -> bytes:
        return filler[:at] + bytes([filler[at] ^ 1]) + filler[at + 1 :]

    with pytest.raises(AuthenticationFailed):  # its body changed
        b.is_filler(flipped(len(filler) - 1))
    moved = flipped(40)  # its masked position changed: no filler, and no item either
    assert not b.is_filler(moved)
    with pytest.raises(RemoteProtocolError):
        b.receive(moved, pair.clock())
    assert b.positions() == before  # fillers change nothing
    assert b.receive(genuine, pair.clock())  # and the stream goes on
    assert len({a.filler() for _ in range(8)}) == 8  # each one fresh


def test_a_filler_on_a_version_one_channel_is_refused() -> None:
    old = ChannelPair.create(version=1)
    with pytest.raises(LocalProtocolError, match="version 2"):
        old.a.channel.filler()
