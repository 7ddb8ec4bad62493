"""Comparing heads: a station whose state went back is found, by itself and by its peer.

A "rollback" here is what a VM snapshot or a copied database file does to a station:
its channel comes back from an older snapshot while the peer has moved on.
"""

from __future__ import annotations

import os

import msgspec
import pytest

from backchannel.protocol import (
    AuthenticationFailed,
    Channel,
    ForkDetected,
    RemoteProtocolError,
)
from backchannel.protocol.events import (
    AckBehind,
    Delivered,
    DuplicateReceived,
    HeadsMatched,
    WentBack,
)
from backchannel.protocol.heads import Heads, encode_message, heads_tag
from backchannel.protocol.transcript import DUPLICATE_WINDOW
from backchannel.testing import ChannelPair, SimulatedStation

from .test_channel import msg


def ask(asker: SimulatedStation, answerer: SimulatedStation) -> list[object]:
    nonce, asked = os.urandom(16), asker.channel.positions()
    answer = answerer.channel.answer_heads(asker.channel.heads_probe(nonce))
    return list(asker.channel.check_heads(answer, nonce, asked))


def old_copy(side: SimulatedStation) -> Channel:
    """The channel as a snapshot taken now would bring it back later."""
    return Channel.restore(side.channel.snapshot(side.key), side.key)


def test_heads_match_when_nothing_went_back() -> None:
    pair = ChannelPair.create()
    for n in range(3):
        pair.send(pair.a, msg(f"m{n}"))
        pair.send(pair.b, msg(f"r{n}"))
    assert ask(pair.a, pair.b) == [HeadsMatched()]
    assert ask(pair.b, pair.a) == [HeadsMatched()]


def test_envelopes_in_flight_are_no_contradiction() -> None:
    pair = ChannelPair.create()
    pair.b.send(msg("not yet delivered"))  # B sent more than A received
    pair.a.send(msg("nor this"))  # A sent more than B received
    assert ask(pair.a, pair.b) == [HeadsMatched()]
    assert ask(pair.b, pair.a) == [HeadsMatched()]


def test_a_station_that_sent_after_its_copy_finds_itself_gone_back() -> None:
    pair = ChannelPair.create()
    copy = old_copy(pair.a)
    pair.send(pair.a, msg("sent after the copy"))
    pair.a.channel = copy  # the copy is put back
    events = ask(pair.a, pair.b)
    [went] = [e for e in events if isinstance(e, WentBack)]
    assert went.who == "us" and "has sent only" in went.reason
    assert any(isinstance(e, ForkDetected) for e in events)
    assert pair.a.channel.fork_alarm is not None
    # ... and its peer finds the same from its side.
    [theirs] = [e for e in ask(pair.b, pair.a) if isinstance(e, WentBack)]
    assert theirs.who == "peer"


def test_a_station_that_only_received_after_its_copy_is_found_too() -> None:
    pair = ChannelPair.create()
    copy = old_copy(pair.a)
    pair.send(pair.b, msg("received after the copy"))  # A acknowledged it
    pair.a.channel = copy
    [went] = [e for e in ask(pair.a, pair.b) if isinstance(e, WentBack)]
    assert went.who == "us" and "acknowledged" in went.reason
    [theirs] = [e for e in ask(pair.b, pair.a) if isinstance(e, WentBack)]
    assert theirs.who == "peer" and "holds only 1" in theirs.reason


def test_a_notice_stops_the_other_side() -> None:
    pair = ChannelPair.create()
    notice = pair.a.channel.went_back_notice("us")
    events = pair.b.channel.receive_notice(notice)
    [went] = [e for e in events if isinstance(e, WentBack)]
    assert went.who == "peer" and pair.b.channel.fork_alarm is not None
    other = ChannelPair.create()
    [mine] = [
        e for e in other.b.channel.receive_notice(other.a.channel.went_back_notice("peer"))
        if isinstance(e, WentBack)
    ]  # fmt: skip
    assert mine.who == "us"


def test_a_fork_at_a_position_both_hold_is_an_alarm_not_a_rollback() -> None:
    pair = ChannelPair.create()
    pair.send(pair.a, msg("m"))
    nonce, here = os.urandom(16), pair.a.channel.positions()
    answer = pair.a.channel.heads_message(
        pair.b.channel.answer_heads(pair.a.channel.heads_probe(nonce))
    )
    assert isinstance(answer, Heads)
    forged = msgspec.structs.replace(answer, received_head=bytes(32))
    # A tag over the altered heads (as the peer itself would make it): a real fork.
    key = pair.b.channel._state.mac_key
    forged = msgspec.structs.replace(forged, auth=heads_tag(key, forged))
    events = pair.a.channel.check_heads(encode_message(forged), nonce, here)
    assert [type(e) for e in events] == [ForkDetected]
    sent = msgspec.structs.replace(answer, sent_head=bytes(32))
    sent = msgspec.structs.replace(sent, auth=heads_tag(key, sent))
    events = pair.a.channel.check_heads(encode_message(sent), nonce, here)
    assert [type(e) for e in events] == [ForkDetected]


def test_answers_must_be_fresh_authentic_and_of_the_right_kind() -> None:
    pair = ChannelPair.create()
    nonce = os.urandom(16)
    answer = pair.b.channel.answer_heads(pair.a.channel.heads_probe(nonce))
    here = pair.a.channel.positions()
    with pytest.raises(RemoteProtocolError, match="not for our probe"):
        pair.a.channel.check_heads(
            answer, os.urandom(16), pair.a.channel.positions()
        )  # an old answer replayed
    tampered = answer[:-1] + bytes([answer[-1] ^ 1])
    with pytest.raises(AuthenticationFailed):
        pair.a.channel.check_heads(tampered, nonce, here)
    with pytest.raises(RemoteProtocolError, match="not the heads message expected"):
        pair.a.channel.check_heads(
            pair.b.channel.heads_probe(nonce), nonce, pair.a.channel.positions()
        )
    with pytest.raises(AuthenticationFailed):  # our own probe reflected: the other key
        pair.a.channel.check_heads(pair.a.channel.heads_probe(nonce), nonce, here)
    assert len(answer) == 367 and answer[:3] == b"BH\x02"
    with pytest.raises(RemoteProtocolError, match="not a backchannel heads message"):
        pair.a.channel.check_heads(b"BH\x01" + b"\x00" * 600, nonce, here)
    stranger = ChannelPair.create().b.channel
    with pytest.raises(AuthenticationFailed):  # sealed under another channel's key
        stranger.answer_heads(pair.a.channel.heads_probe(nonce))
    probe = pair.b.channel.heads_message(pair.a.channel.heads_probe(nonce))
    with pytest.raises(RemoteProtocolError, match="another channel"):  # a version-1 one
        stranger.answer_heads(encode_message(probe))
    with pytest.raises(AuthenticationFailed):  # a probe made without the MAC key
        pair.b.channel.answer_heads(encode_message(msgspec.structs.replace(probe, auth=bytes(32))))


def test_an_ack_behind_the_last_one_is_reported() -> None:
    pair = ChannelPair.create()
    _, first_ack = pair.b.receive(pair.a.send(msg("one")))
    assert any(isinstance(e, Delivered) for e in pair.a.take_ack(first_ack))
    pair.send(pair.a, msg("two"))
    assert pair.a.channel.receive_ack(first_ack) == [AckBehind(seq=2, acked_seq=3)]


def test_an_old_position_holding_a_different_envelope_is_never_a_duplicate() -> None:
    pair = ChannelPair.create()
    copy = old_copy(pair.a)
    first = pair.a.send(msg("the original"))
    pair.deliver(first, pair.b)
    for n in range(DUPLICATE_WINDOW + 2):  # push it out of B's window of recent hashes
        pair.send(pair.a, msg(f"filler {n}"))
    known = pair.b.received_log[1][1]  # what B's archive holds at A's seq 2
    assert pair.b.channel.receive(first, 0.0, known_hash=known) == [DuplicateReceived(2)]
    # The copy put back sends another envelope at that position: with the archive's
    # hash it is told apart however old the position is.
    again = copy.send(msg("sent again from the old copy"), 0.0).data
    with pytest.raises(RemoteProtocolError, match="conflicts"):  # one that does not open
        pair.b.channel.receive(again[:-1] + bytes([again[-1] ^ 1]), 0.0, known_hash=known)
    events = pair.b.channel.receive(again, 0.0, known_hash=known)
    assert [type(e) for e in events] == [ForkDetected]  # it opens: it is the peer's
    assert pair.b.channel.receive(again, 0.0) == [DuplicateReceived(2)]  # no archive: blind


def test_what_moves_while_the_probe_is_out_is_no_rollback() -> None:
    """We take the peer's next envelope and its ack while our probe is on its way."""
    pair = ChannelPair.create()
    nonce, asked = os.urandom(16), pair.a.channel.positions()
    answer = pair.b.channel.answer_heads(pair.a.channel.heads_probe(nonce))
    pair.send(pair.b, msg("arrives while the probe is out"))  # A received more ...
    pair.send(pair.a, msg("and sent more, acknowledged"))  # ... and was acknowledged more
    assert pair.a.channel.check_heads(answer, nonce, asked) == [HeadsMatched()]
