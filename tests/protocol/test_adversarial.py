"""A confirmed channel under attack: tampering, replay, forgery, downgrade, malformed input.

Station A sends one genuine envelope; the attacker intercepts it and feeds B
altered versions first.  Every attack must be refused with the exact error class
(``AuthenticationFailed`` whenever authentication fails, at any layer; a plain
``RemoteProtocolError`` for structural problems), must leave B's state exactly as
it was, and must not disturb the genuine envelope delivered afterwards, which
proves that the Olm session was neither advanced nor corrupted.  Acks are
attacked the same way at A.  A few attacks need a rogue peer holding the real
keys; :func:`clone` gives the attacker a copy of A's channel for that.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from typing import NamedTuple

import msgspec
import pytest
import vodozemac
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from backchannel.protocol import (
    AuthenticationFailed,
    ChannelPolicy,
    Checkpoint,
    Delivered,
    DuplicateReceived,
    EnvelopeHeld,
    Event,
    HeldEnvelopeDiscarded,
    ItemReceived,
    LocalProtocolError,
    Message,
    Pairing,
    RemoteProtocolError,
    wire,
)
from backchannel.protocol import channel as channel_module
from backchannel.protocol.channel import MAX_SNAPSHOT_BYTES, Channel, ChannelState
from backchannel.protocol.encoding import encode
from backchannel.protocol.errors import ConflictingEnvelope
from backchannel.protocol.events import AckBehind
from backchannel.protocol.wire import Header, KemOffer, KemRenewal
from backchannel.testing import ChannelPair, SimulatedStation

AUTH = "authentication failed"
TAG_BYTES = 16  # Poly1305
GENUINE_SEQ = 2  # each side's pairing confirmation was envelope 1

# -- helpers ---------------------------------------------------------------------------


def message(text: str = "attack at dawn") -> Message:
    return Message(text=text, language="en", from_role="officer", to_role="principal")


def state_of(ch: Channel) -> tuple[object, ...]:
    """Everything a refused input must not change (the Olm session is checked by delivery).

    The Olm stash is left out: an envelope that opens both layers and is refused
    stashes its plaintext on purpose; the tests of that case check it directly.
    """
    return (
        ch.sent_seq, ch.received_seq, ch.acked_seq, ch.epochs, ch.pairing, ch.fork_alarm,
        msgspec.to_builtins(ch._chain.state), msgspec.to_builtins(ch._outer.state),
        msgspec.to_builtins(msgspec.structs.replace(ch._state, olm_session="", olm_stash={})),
    )  # fmt: skip


def clone(ch: Channel) -> Channel:
    """An independent copy of a channel, keys and Olm session included (a rogue peer)."""
    key = bytes(32)
    state = msgspec.msgpack.decode(encode(ch._state), type=ChannelState)
    session = vodozemac.Session.from_pickle(ch._session.pickle(key), key)
    return Channel(state, session, ch.policy)


def flip(data: bytes, position: int, mask: int = 0x01) -> bytes:
    return data[:position] + bytes([data[position] ^ mask]) + data[position + 1 :]


def reencode(header: Header, body: bytes, raw: dict[str, bytes] | None = None) -> bytes:
    """An envelope built field by field; ``raw`` replaces a field's (or the body's) msgpack."""
    raw = raw or {}
    fields = [raw.get(name) or encode(getattr(header, name)) for name in header.__struct_fields__]
    return b"BC\x01\x92\x98" + b"".join(fields) + raw.get("body", encode(body))


def regions(data: bytes) -> dict[str, tuple[int, int]]:
    """Byte ranges of the prefix, each header field, the ciphertext and the tag."""
    header, body = wire.parse_envelope(data)
    spans = {"magic": (0, 2), "version": (2, 3)}
    offset = 5  # the prefix, then the array headers of the envelope and of the header
    for name in header.__struct_fields__:
        size = len(encode(getattr(header, name)))
        spans[name] = (offset, offset + size)
        offset += size
    offset += len(encode(body)) - len(body)  # the bin header of the body
    spans["body"] = (offset, len(data) - TAG_BYTES)
    spans["tag"] = (len(data) - TAG_BYTES, len(data))
    assert reencode(header, body) == data
    return spans


def refuse(
    pair: ChannelPair, data: bytes, error: type[RemoteProtocolError], match: str = ""
) -> RemoteProtocolError:
    """B refuses ``data`` with exactly ``error`` and changes nothing."""
    ch, before, inbox = pair.b.channel, state_of(pair.b.channel), list(pair.b.inbox)
    with pytest.raises(RemoteProtocolError) as info:
        ch.receive(data, pair.clock())
    assert type(info.value) is error, repr(info.value)
    assert match in str(info.value)
    if error is AuthenticationFailed:
        assert str(info.value) == AUTH
    assert state_of(ch) == before
    assert pair.b.inbox == inbox
    return info.value


def refuse_any(pair: ChannelPair, data: bytes) -> None:
    """B refuses ``data`` with some RemoteProtocolError (re-raised) and changes nothing."""
    before = state_of(pair.b.channel)
    try:
        pair.b.channel.receive(data, pair.clock())
    except RemoteProtocolError as exc:
        assert state_of(pair.b.channel) == before
        assert not isinstance(exc, AuthenticationFailed) or str(exc) == AUTH
        raise


def refuse_ack(
    station: SimulatedStation, data: bytes, error: type[RemoteProtocolError], match: str = ""
) -> None:
    ch, before = station.channel, state_of(station.channel)
    with pytest.raises(RemoteProtocolError) as info:
        ch.receive_ack(data)
    assert type(info.value) is error, repr(info.value)
    assert match in str(info.value)
    assert state_of(ch) == before


def accepted(pair: ChannelPair, data: bytes, text: str = "attack at dawn") -> None:
    """The genuine envelope still goes through (so the Olm session is intact)."""
    events = pair.deliver(data, pair.b)
    assert isinstance(events[0], ItemReceived)
    assert events[0].item == message(text)
    assert pair.b.inbox[-1] == message(text)


def reseal(pair: ChannelPair, header: Header, plaintext: bytes) -> bytes:
    """An envelope the outer layer accepts (an attacker holding the outer key)."""
    cipher = ChaCha20Poly1305(pair.b.channel._outer.state.recv_key)
    body = cipher.encrypt(header.nonce, plaintext, wire.associated_data(header))
    return wire.encode_envelope(header, body)


def outer_plaintext(pair: ChannelPair, data: bytes) -> bytes:
    plaintext, _ = pair.b.channel._outer.open(pair.b.channel.read(data))
    return plaintext


@pytest.fixture
def pair() -> ChannelPair:
    return ChannelPair.create(version=1)


@pytest.fixture
def genuine(pair: ChannelPair) -> bytes:
    """A's next envelope, intercepted before B sees it."""
    data = pair.a.send(message())
    assert wire.parse_envelope(data)[0].seq == GENUINE_SEQ
    return data


# -- tampering -------------------------------------------------------------------------


class Flip(NamedTuple):
    """XOR ``mask`` into the last byte of ``region``; expect ``error`` saying ``match``."""

    region: str
    mask: int
    error: type[RemoteProtocolError]
    match: str


BYTE_FLIPS = [
    Flip("magic", 0x01, RemoteProtocolError, "not a backchannel envelope"),
    Flip("version", 0x01, RemoteProtocolError, "unsupported protocol version"),
    Flip("channel_id", 0x01, RemoteProtocolError, "another channel"),
    Flip("sender", 0x01, RemoteProtocolError, "pair of stations"),
    Flip("receiver", 0x01, RemoteProtocolError, "pair of stations"),
    Flip("seq", 0x03, ConflictingEnvelope, "conflicts"),  # 2 -> 1, already received
    Flip("seq", 0xFF, RemoteProtocolError, "malformed envelope"),  # 2 -> -3
    Flip("item_type", 0x01, RemoteProtocolError, "unknown item type"),  # "messagd"
    Flip("item_type", 0x80, RemoteProtocolError, "malformed envelope"),  # invalid UTF-8
    Flip("epoch", 0x01, AuthenticationFailed, ""),  # 0 -> 1, no such key
    Flip("epoch", 0xFF, RemoteProtocolError, "malformed envelope"),  # 0 -> -1
    Flip("renewal", 0x01, RemoteProtocolError, "malformed envelope"),  # nil -> 0xc1
    Flip("nonce", 0x01, AuthenticationFailed, ""),
    Flip("body", 0x01, AuthenticationFailed, ""),
    Flip("tag", 0x01, AuthenticationFailed, ""),
]


def flip_id(case: object) -> str:
    return f"{case.region}^{case.mask:#04x}" if isinstance(case, Flip) else str(case)


@pytest.mark.parametrize("case", BYTE_FLIPS, ids=flip_id)
def test_byte_flip_in_each_region_is_refused(pair: ChannelPair, genuine: bytes, case: Flip) -> None:
    _start, end = regions(genuine)[case.region]
    refuse(pair, flip(genuine, end - 1, case.mask), case.error, case.match)
    accepted(pair, genuine)


@pytest.mark.parametrize("where", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_byte_flip_anywhere_in_the_ciphertext_fails_authentication(
    pair: ChannelPair, genuine: bytes, where: float
) -> None:
    start, end = regions(genuine)["body"]
    refuse(pair, flip(genuine, start + round(where * (end - start - 1))), AuthenticationFailed)
    accepted(pair, genuine)


def test_every_tag_byte_is_checked(pair: ChannelPair, genuine: bytes) -> None:
    start, end = regions(genuine)["tag"]
    for position in range(start, end):
        refuse(pair, flip(genuine, position, 0x80), AuthenticationFailed)
    accepted(pair, genuine)


OTHER = b"\x55" * 16
CIPHERTEXT = bytes(1088)  # an ML-KEM-768 ciphertext (well formed, not the right one)


def changed(**fields: object) -> Callable[[Header], Header]:
    return lambda header: msgspec.structs.replace(header, **fields)


def swapped(header: Header) -> Header:
    return msgspec.structs.replace(header, sender=header.receiver, receiver=header.sender)


# Valid, canonical envelopes whose header differs in one field from what was sealed.
HEADER_CHANGES = [
    pytest.param(changed(channel_id=OTHER), RemoteProtocolError, "another channel", id="channel"),
    pytest.param(swapped, RemoteProtocolError, "pair of stations", id="swapped"),
    pytest.param(changed(sender=OTHER), RemoteProtocolError, "pair of stations", id="sender"),
    pytest.param(changed(receiver=OTHER), RemoteProtocolError, "pair of stations", id="receiver"),
    pytest.param(changed(seq=GENUINE_SEQ - 1), ConflictingEnvelope, "conflicts", id="old-seq"),
    pytest.param(changed(seq=0), RemoteProtocolError, "malformed", id="seq-zero"),
    pytest.param(changed(seq=2**62 + 1), RemoteProtocolError, "malformed", id="seq-huge"),
    pytest.param(changed(item_type="ack"), AuthenticationFailed, "", id="ack"),
    pytest.param(changed(item_type="checkpoint"), AuthenticationFailed, "", id="checkpoint"),
    pytest.param(changed(item_type="pairing-confirm"), AuthenticationFailed, "", id="pairing"),
    pytest.param(
        changed(item_type="no-such-type"), RemoteProtocolError, "unknown item type", id="unknown"
    ),
    pytest.param(changed(epoch=1), AuthenticationFailed, "", id="epoch"),
    pytest.param(
        changed(epoch=1, renewal=KemRenewal(0, CIPHERTEXT)), AuthenticationFailed, "", id="renewal"
    ),
    pytest.param(
        changed(epoch=1, renewal=KemRenewal(99, CIPHERTEXT)),
        AuthenticationFailed,
        "",
        id="renewal-unknown-offer",
    ),
    pytest.param(
        changed(renewal=KemRenewal(0, CIPHERTEXT)), AuthenticationFailed, "", id="renewal-no-epoch"
    ),
    pytest.param(changed(nonce=bytes(12)), AuthenticationFailed, "", id="nonce"),
]


@pytest.mark.parametrize(("change", "error", "match"), HEADER_CHANGES)
def test_changed_header_field_is_refused(
    pair: ChannelPair,
    genuine: bytes,
    change: Callable[[Header], Header],
    error: type[RemoteProtocolError],
    match: str,
) -> None:
    header, body = wire.parse_envelope(genuine)
    refuse(pair, wire.encode_envelope(change(header), body), error, match)
    accepted(pair, genuine)


# Fifty fixed positions over the layout of a sample envelope (same message, same size).
LAYOUT = regions(ChannelPair.create(version=1).a.send(message()))
POSITIONS = sorted(random.Random(20240601).sample(range(LAYOUT["tag"][1]), 50))


@pytest.mark.parametrize("position", POSITIONS)
def test_inverted_byte_anywhere_is_refused(
    pair: ChannelPair, genuine: bytes, position: int
) -> None:
    # All bits are inverted: a smaller change of the seq byte can move it forward into
    # the hold window, which is not an error (see the next test).
    assert regions(genuine) == LAYOUT
    with pytest.raises(RemoteProtocolError):
        refuse_any(pair, flip(genuine, position, 0xFF))
    accepted(pair, genuine)


def test_forged_future_envelope_is_refused_not_held(pair: ChannelPair, genuine: bytes) -> None:
    header, body = wire.parse_envelope(genuine)
    forged = wire.encode_envelope(msgspec.structs.replace(header, seq=header.seq + 1), body)
    refuse(pair, forged, AuthenticationFailed)
    assert pair.b.channel._chain.state.held == {}
    accepted(pair, genuine)


def test_held_envelope_failing_below_the_outer_layer_is_discarded(
    pair: ChannelPair, genuine: bytes
) -> None:
    # Only an attacker with the outer key gets an envelope held; it fails at its turn.
    header, _ = wire.parse_envelope(genuine)
    early = msgspec.structs.replace(header, seq=header.seq + 1)
    forged = reseal(pair, early, outer_plaintext(pair, genuine))
    assert pair.b.channel.receive(forged, pair.clock()) == [EnvelopeHeld(header.seq + 1)]
    events = pair.deliver(genuine, pair.b)
    assert isinstance(events[0], ItemReceived)
    assert events[1:] == [HeldEnvelopeDiscarded(header.seq + 1, AUTH)]
    assert pair.b.channel._chain.state.held == {}
    accepted(pair, pair.a.send(message("next")), "next")


# -- layers below the outer AEAD (an attacker holding the outer key) ---------------------


def test_tampered_olm_message_fails_authentication(pair: ChannelPair, genuine: bytes) -> None:
    header, _ = wire.parse_envelope(genuine)
    plaintext = outer_plaintext(pair, genuine)
    for position in (0, 1, len(plaintext) // 2, len(plaintext) - 1):
        refuse(pair, reseal(pair, header, flip(plaintext, position)), AuthenticationFailed)
    refuse(pair, reseal(pair, header, b""), AuthenticationFailed)
    accepted(pair, genuine)


def test_inner_message_bound_to_its_header(pair: ChannelPair, genuine: bytes) -> None:
    # Outer and Olm layers both open (so the Olm ratchet moves); the header digest does
    # not match.  The Olm plaintext must be kept, or the genuine envelope fails.
    header, _ = wire.parse_envelope(genuine)
    moved = msgspec.structs.replace(header, nonce=bytes(12))
    refuse(pair, reseal(pair, moved, outer_plaintext(pair, genuine)), AuthenticationFailed)
    assert pair.b.channel._state.olm_stash  # the ratchet moved; the plaintext is kept
    accepted(pair, genuine)
    assert pair.b.channel._state.olm_stash == {}


def rogue_refused_again(pair: ChannelPair, forged: bytes, error: type[RemoteProtocolError]) -> None:
    """A rogue peer's envelope (both layers open) is refused the same way every time.

    The peer itself equivocating is out of scope (it holds every key); what matters
    is that the refusal is deterministic and stashes the Olm plaintext.
    """
    assert pair.b.channel._state.olm_stash
    refuse(pair, forged, error)


def test_undecodable_item_is_refused(pair: ChannelPair, monkeypatch: pytest.MonkeyPatch) -> None:
    # A rogue peer's item with invalid UTF-8 text: refused with a clear error.
    rogue = clone(pair.a.channel)
    bad_text = lambda item: encode(item).replace(b"\xa2hi", b"\xa2\xff\xfe")  # noqa: E731
    monkeypatch.setattr(channel_module, "encode_item", bad_text)
    forged = rogue.send_item(message("hi"), pair.clock())
    monkeypatch.undo()
    refuse(pair, forged, RemoteProtocolError, "malformed")
    rogue_refused_again(pair, forged, RemoteProtocolError)


def test_rogue_peer_checkpoint_with_bad_tag(pair: ChannelPair) -> None:
    rogue, c = clone(pair.a.channel), pair.a.channel._chain.state
    forged = rogue.send_item(
        Checkpoint(c.sent_seq, c.sent_head, c.received_seq, c.received_head, tag=bytes(32)),
        pair.clock(),
    )
    refuse(pair, forged, AuthenticationFailed)
    rogue_refused_again(pair, forged, AuthenticationFailed)


def test_authentication_failures_are_indistinguishable(pair: ChannelPair, genuine: bytes) -> None:
    header, body = wire.parse_envelope(genuine)
    attacks = [
        flip(genuine, len(genuine) - 1),  # Poly1305 tag
        wire.encode_envelope(msgspec.structs.replace(header, epoch=1), body),  # wrong key
        reseal(pair, header, flip(outer_plaintext(pair, genuine), 5)),  # Olm
        reseal(
            pair, msgspec.structs.replace(header, nonce=bytes(12)), outer_plaintext(pair, genuine)
        ),
    ]
    errors = [refuse(pair, data, AuthenticationFailed) for data in attacks]
    pair.b.channel.receive(genuine, pair.clock())
    ack = wire.parse_ack(pair.b.channel.ack())
    with pytest.raises(AuthenticationFailed) as info:
        pair.a.channel.receive_ack(wire.encode_ack(msgspec.structs.replace(ack, tag=bytes(32))))
    errors.append(info.value)
    assert {(str(e), e.args) for e in errors} == {(AUTH, (AUTH,))}


# -- replay, forgery, misdirection ----------------------------------------------------------


def test_replayed_envelope_is_a_duplicate(pair: ChannelPair, genuine: bytes) -> None:
    first, ack = pair.b.receive(genuine)
    assert isinstance(first[0], ItemReceived)
    before, inbox = state_of(pair.b.channel), list(pair.b.inbox)
    again, ack_again = pair.b.receive(genuine)
    assert again == [DuplicateReceived(GENUINE_SEQ)]
    assert ack_again == ack
    assert pair.b.inbox == inbox
    assert state_of(pair.b.channel) == before


def test_replayed_seq_with_other_body_conflicts(pair: ChannelPair, genuine: bytes) -> None:
    accepted(pair, genuine)
    header, body = wire.parse_envelope(genuine)
    refuse(pair, wire.encode_envelope(header, flip(body, 0)), ConflictingEnvelope, "conflicts")
    refuse(pair, flip(genuine, len(genuine) - 1), ConflictingEnvelope, "conflicts")


def test_reflected_envelope_is_refused(pair: ChannelPair, genuine: bytes) -> None:
    before = state_of(pair.a.channel)
    with pytest.raises(RemoteProtocolError, match="pair of stations") as info:
        pair.a.channel.receive(genuine, pair.clock())
    assert type(info.value) is RemoteProtocolError
    assert state_of(pair.a.channel) == before
    accepted(pair, genuine)


def test_envelope_of_another_channel_is_refused(pair: ChannelPair, genuine: bytes) -> None:
    stranger = ChannelPair.create(version=1)
    refuse(pair, stranger.a.send(message()), RemoteProtocolError, "another channel")
    accepted(pair, genuine)


def test_large_sequence_jump_is_refused_before_any_key_work(
    pair: ChannelPair, genuine: bytes
) -> None:
    header, body = wire.parse_envelope(genuine)
    seq = pair.b.channel.received_seq + pair.b.channel.policy.max_gap + 1
    outer = msgspec.to_builtins(pair.b.channel._outer.state)
    # With a renewal in it: had the gap been checked late, B would have decapsulated.
    jump = changed(seq=seq, epoch=1, renewal=KemRenewal(0, CIPHERTEXT))(header)
    jump_data = wire.encode_envelope(jump, body)
    refuse(
        pair,
        jump_data,
        RemoteProtocolError,
        f"exceeds the limit of {pair.b.channel.policy.max_gap}",
    )
    assert msgspec.to_builtins(pair.b.channel._outer.state) == outer
    accepted(pair, genuine)


# -- downgrade and malformed input -----------------------------------------------------------


@pytest.mark.parametrize("version", [0, 3, 255])
def test_other_protocol_versions_are_refused(
    pair: ChannelPair, genuine: bytes, version: int
) -> None:
    data = genuine[:2] + bytes([version]) + genuine[3:]
    refuse(pair, data, RemoteProtocolError, f"unsupported protocol version {version}")
    accepted(pair, genuine)


@pytest.mark.parametrize("magic", [b"BA", b"bc", b"\x00\x00"])
def test_wrong_magic_is_refused(pair: ChannelPair, genuine: bytes, magic: bytes) -> None:
    refuse(pair, magic + genuine[2:], RemoteProtocolError, "not a backchannel envelope")
    accepted(pair, genuine)


def test_oversize_envelope_is_refused_before_parsing(pair: ChannelPair, genuine: bytes) -> None:
    data = b"BC\x01" + bytes(wire.MAX_ENVELOPE_BYTES + 1 - 3)
    match = f"{wire.MAX_ENVELOPE_BYTES + 1} bytes, more than the limit of {wire.MAX_ENVELOPE_BYTES}"
    refuse(pair, data, RemoteProtocolError, match)
    accepted(pair, genuine)


@pytest.mark.parametrize(
    "payload",
    [
        b"\x91" * 100_000 + b"\xc0",
        b"\x92" + b"\x91" * 100_000 + b"\xc0" + b"\xc0",
        b"\x92\x98" + b"\x91" * 100_000 + b"\xc0",
        b"\xdd\xff\xff\xff\xff",  # claims 2**32 - 1 elements
    ],
    ids=["outer", "header", "field", "huge-count"],
)
def test_deep_or_huge_nesting_is_refused(pair: ChannelPair, genuine: bytes, payload: bytes) -> None:
    refuse(pair, b"BC\x01" + payload, RemoteProtocolError, "malformed envelope")
    accepted(pair, genuine)


@pytest.mark.parametrize(
    "raw_type",
    [b"\xa7messag\xff", b"\xa7\xc3\x28ssage", b"\xa3\xed\xa0\x80"],
    ids=["ff", "c328", "surrogate"],
)
def test_invalid_utf8_item_type_is_refused(
    pair: ChannelPair, genuine: bytes, raw_type: bytes
) -> None:
    header, body = wire.parse_envelope(genuine)
    refuse(pair, reencode(header, body, {"item_type": raw_type}), RemoteProtocolError, "malformed")
    accepted(pair, genuine)


def test_noncanonical_encodings_are_refused(pair: ChannelPair, genuine: bytes) -> None:
    header, body = wire.parse_envelope(genuine)
    assert reencode(header, body) == genuine
    variants = {
        "seq": b"\xce" + header.seq.to_bytes(4, "big"),
        "epoch": b"\xcc\x00",
        "item_type": b"\xd9\x07message",
        "nonce": b"\xc5\x00\x0c" + header.nonce,
        "body": b"\xc6" + len(body).to_bytes(4, "big") + body,
    }
    for field, raw in variants.items():
        data = reencode(header, body, {field: raw})
        refuse(pair, data, RemoteProtocolError, "not canonically encoded")
    accepted(pair, genuine)


def test_trailing_bytes_are_refused(pair: ChannelPair, genuine: bytes) -> None:
    refuse(pair, genuine + b"\x00", RemoteProtocolError, "malformed envelope")
    accepted(pair, genuine)


def test_truncated_envelopes_are_refused(pair: ChannelPair, genuine: bytes) -> None:
    for length in [*range(0, len(genuine), 97), len(genuine) - 1]:
        refuse(pair, genuine[:length], RemoteProtocolError)
    accepted(pair, genuine)


@pytest.mark.parametrize("seed", range(5))
def test_garbage_is_refused(pair: ChannelPair, genuine: bytes, seed: int) -> None:
    rng = random.Random(seed)
    refuse(pair, rng.randbytes(rng.randrange(1, 600)), RemoteProtocolError)
    refuse(pair, b"BC\x01" + rng.randbytes(rng.randrange(0, 600)), RemoteProtocolError)
    accepted(pair, genuine)


def test_empty_input_is_refused(pair: ChannelPair, genuine: bytes) -> None:
    refuse(pair, b"", RemoteProtocolError, "not a backchannel envelope")
    accepted(pair, genuine)


# -- delivery acks ---------------------------------------------------------------------------


@pytest.fixture
def ack(pair: ChannelPair, genuine: bytes) -> bytes:
    """B's ack of the genuine envelope, on its way to A."""
    pair.b.channel.receive(genuine, pair.clock())
    return pair.b.channel.ack()


def test_tampered_ack_fails_authentication(pair: ChannelPair, ack: bytes) -> None:
    parsed = wire.parse_ack(ack)
    forged = [
        flip(ack, len(ack) - 1),
        wire.encode_ack(msgspec.structs.replace(parsed, tag=bytes(32))),
        wire.encode_ack(msgspec.structs.replace(parsed, seq=1)),
        wire.encode_ack(msgspec.structs.replace(parsed, head=bytes(32))),
    ]
    for data in forged:
        refuse_ack(pair.a, data, AuthenticationFailed, AUTH)
    assert pair.a.channel.receive_ack(ack) == [Delivered(GENUINE_SEQ)]


def test_misdirected_acks_are_refused(pair: ChannelPair, ack: bytes) -> None:
    stranger = ChannelPair.create(version=1)
    stranger.b.channel.receive(stranger.a.send(message()), stranger.clock())
    refuse_ack(pair.a, stranger.b.channel.ack(), RemoteProtocolError, "another channel")
    refuse_ack(pair.b, ack, RemoteProtocolError, "pair of stations")  # reflected
    assert pair.a.channel.receive_ack(ack) == [Delivered(GENUINE_SEQ)]


def test_ack_for_a_seq_never_sent_is_refused(pair: ChannelPair, ack: bytes) -> None:
    b, parsed = pair.b.channel, wire.parse_ack(ack)
    seq = pair.a.channel.sent_seq + 5
    tag = b._chain.ack_tag(b._state.mac_key, seq, parsed.head)  # the peer's own MAC key
    data = wire.encode_ack(msgspec.structs.replace(parsed, seq=seq, tag=tag))
    refuse_ack(pair.a, data, RemoteProtocolError, "never sent")
    assert pair.a.channel.receive_ack(ack) == [Delivered(GENUINE_SEQ)]


def test_malformed_acks_are_refused(pair: ChannelPair, ack: bytes) -> None:
    rng = random.Random(7)
    bad = [ack[:n] for n in range(len(ack))]
    bad += [b"", rng.randbytes(100), b"BA\x01" + rng.randbytes(100), ack + b"\x00"]
    bad += [b"BA\x01" + bytes(wire.MAX_ACK_BYTES), b"BA\x02" + ack[3:], b"BC" + ack[2:]]
    for data in bad:
        refuse_ack(pair.a, data, RemoteProtocolError)
    assert pair.a.channel.receive_ack(ack) == [Delivered(GENUINE_SEQ)]


def test_replayed_acks_change_nothing(pair: ChannelPair, ack: bytes) -> None:
    assert pair.a.channel.receive_ack(ack) == [Delivered(GENUINE_SEQ)]
    pair.deliver(pair.a.send(message("next")), pair.b)  # carries B's ack of envelope 3 to A
    latest, before = pair.b.channel.ack(), state_of(pair.a.channel)
    behind = [AckBehind(GENUINE_SEQ, GENUINE_SEQ + 1)]  # reported, so heads get compared
    for data, events in ((ack, behind), (latest, []), (ack, behind)):
        assert pair.a.channel.receive_ack(data) == events
        assert state_of(pair.a.channel) == before


# -- pairing ------------------------------------------------------------------------------------


def test_no_items_before_confirmation() -> None:
    pair = ChannelPair.create(confirm=False, version=1)
    with pytest.raises(LocalProtocolError):
        pair.a.channel.send_item(message(), pair.clock())


def test_rogue_peer_item_before_confirmation_is_refused() -> None:
    pair = ChannelPair.create(confirm=False, version=1)
    rogue = clone(pair.a.channel)
    rogue._state.pairing = Pairing.ACTIVE
    forged = rogue.send_item(message(), pair.clock())
    refuse(pair, forged, RemoteProtocolError, "before both sides confirmed")
    rogue_refused_again(pair, forged, RemoteProtocolError)


# -- weaknesses found in review, now fixed ------------------------------------------------


def test_held_forgeries_cannot_outgrow_the_snapshot_limit(
    pair: ChannelPair, genuine: bytes
) -> None:
    header, _ = wire.parse_envelope(genuine)
    body = bytes(wire.MAX_ENVELOPE_BYTES - 200)
    for n in range(1, MAX_SNAPSHOT_BYTES // wire.MAX_ENVELOPE_BYTES + 2):
        forged = wire.encode_envelope(msgspec.structs.replace(header, seq=header.seq + n), body)
        with contextlib.suppress(RemoteProtocolError):
            pair.b.channel.receive(forged, pair.clock())
    # Channel.restore refuses a snapshot over this limit: B could never restart.
    assert len(encode(pair.b.channel._state)) <= MAX_SNAPSHOT_BYTES


def test_forgery_cannot_displace_a_held_envelope(pair: ChannelPair, genuine: bytes) -> None:
    third = pair.a.send(message("third"))
    header, _ = wire.parse_envelope(third)
    assert pair.b.channel.receive(third, pair.clock()) == [EnvelopeHeld(header.seq)]
    forged = wire.encode_envelope(msgspec.structs.replace(header, nonce=bytes(12)), b"x" * 64)
    with contextlib.suppress(RemoteProtocolError):
        pair.b.channel.receive(forged, pair.clock())
    events: list[Event] = pair.b.channel.receive(genuine, pair.clock())
    assert [type(e) for e in events] == [ItemReceived, ItemReceived]


def test_invalid_kem_offer_from_peer_cannot_break_sending() -> None:
    pair = ChannelPair.create(ChannelPolicy(renew_after_items=1), version=1)
    rogue = clone(pair.a.channel)
    rogue._outer.take_offer = lambda: KemOffer(99, b"\xff" * 1184)  # type: ignore[method-assign]
    forged = rogue.send_item(message(), pair.clock())
    with contextlib.suppress(RemoteProtocolError):
        pair.b.channel.receive(forged, pair.clock())
    for _ in range(2):  # the renewal is due: B encapsulates to the peer's newest offer
        pair.b.channel.send_item(message(), pair.clock())


def test_several_burned_olm_messages_are_all_kept(pair: ChannelPair) -> None:
    # An attacker holding the outer key re-seals two genuine Olm messages under a
    # changed header: both message keys are used up, both plaintexts are stashed,
    # and the genuine envelopes still go through in order afterwards.
    first, second = pair.a.send(message("one")), pair.a.send(message("two"))
    header, _ = wire.parse_envelope(first)
    moved = msgspec.structs.replace(header, nonce=bytes(12))
    for genuine in (first, second):
        refuse(pair, reseal(pair, moved, outer_plaintext(pair, genuine)), AuthenticationFailed)
    assert len(pair.b.channel._state.olm_stash) == 2
    accepted(pair, first, "one")
    accepted(pair, second, "two")
    assert pair.b.channel._state.olm_stash == {}
