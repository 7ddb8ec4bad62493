"""Golden files: the v1 and v2 wire and snapshot formats must keep reading back the same.

If one of these fails, a format changed.  If that was intended, bump the protocol
or snapshot version (old peers and stored snapshots must be refused or migrated,
never misread) and regenerate with ``tests/golden/make_golden.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from backchannel.protocol import (
    Acceptance,
    Channel,
    Identity,
    ItemReceived,
    LocalProtocolError,
    Message,
    PendingInvitation,
    RemoteProtocolError,
    SignedInvitation,
    complete_pairing,
    envelope_hash,
)
from backchannel.protocol.wire import encode_envelope, parse_ack, parse_envelope

GOLDEN: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "golden" / "v1.json").read_text(encoding="utf-8")
)
KEY = bytes.fromhex(GOLDEN["key"])


def blob(name: str) -> bytes:
    return bytes.fromhex(GOLDEN[name])


def test_envelope_layout_is_stable() -> None:
    data = blob("envelope")
    assert data[:3] == b"BC\x01"
    header, body = parse_envelope(data)
    assert encode_envelope(header, body) == data
    assert header.__struct_fields__ == (
        "channel_id", "sender", "receiver", "seq", "item_type", "epoch", "renewal", "nonce",
    )  # fmt: skip
    assert (header.item_type, header.epoch, header.renewal) == ("message", 0, None)
    assert msgspec.msgpack.decode(data[3:])[0][3] == header.seq


def test_snapshot_and_envelope_read_back_to_the_same_item() -> None:
    channel = Channel.restore(blob("channel_snapshot_b"), KEY)
    events = channel.receive(blob("envelope"), GOLDEN["now"])
    [received] = [e for e in events if isinstance(e, ItemReceived)]
    item = received.item
    assert isinstance(item, Message)
    assert (item.text, item.language) == (GOLDEN["item"]["text"], GOLDEN["item"]["language"])
    assert item.ack_deadline == datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
    assert received.envelope_hash == envelope_hash(blob("envelope"))
    assert channel.ack() == blob("ack")
    assert parse_ack(blob("ack")).seq == received.seq


def test_a_version_1_invitation_and_its_snapshot_are_refused_with_what_to_do() -> None:
    Identity.restore(blob("identity_snapshot"), KEY)
    with pytest.raises(RemoteProtocolError, match=r"version 1 .*ask the inviting station"):
        SignedInvitation.decode(blob("invitation"))
    with pytest.raises(LocalProtocolError, match=r"before TLS pinning .*issue a new one"):
        PendingInvitation.restore(blob("invitation_snapshot"), KEY)


PAIRING: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "golden" / "pairing.json").read_text(encoding="utf-8")
)


def test_a_version_2_invitation_and_acceptance_read_back_with_their_pins() -> None:
    key, now = bytes.fromhex(PAIRING["key"]), PAIRING["now"]
    pin_a, pin_b = (bytes.fromhex(pin) for pin in PAIRING["pins"])
    inviter = Identity.restore(bytes.fromhex(PAIRING["inviter_snapshot"]), key)
    data = bytes.fromhex(PAIRING["invitation"])
    assert data[:4] == b"BCI\x02"
    invitation = SignedInvitation.decode(data)
    invitation.verify(now)
    assert invitation.encode() == data
    assert (invitation.body.identity, invitation.body.tls_pins) == (inviter.public, (pin_a,))
    pending = PendingInvitation.restore(bytes.fromhex(PAIRING["invitation_snapshot"]), key)
    assert pending.invitation == invitation
    acceptance = Acceptance.decode(bytes.fromhex(PAIRING["acceptance"]))
    assert acceptance.tls_pins == (pin_b,)
    channel = complete_pairing(inviter, pending, acceptance, now)
    assert channel.peer_endpoint == "https://borduria.example/peer"


@pytest.mark.parametrize("name", ["channel_snapshot_b", "identity_snapshot"])
def test_snapshots_are_sealed(name: str) -> None:
    data = blob(name)
    assert data.startswith(b"BCS\x01")
    assert b"Aurelia" not in data and b"Borduria" not in data


V2: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "golden" / "v2.json").read_text(encoding="utf-8")
)


def test_version_two_envelope_reads_back_to_the_same_item() -> None:
    data = bytes.fromhex(V2["envelope"])
    assert data[:3] == b"BC\x02" and len(data) == 1024  # one bucket: the floor
    channel = Channel.restore(bytes.fromhex(V2["channel_snapshot_b"]), bytes.fromhex(V2["key"]))
    events = channel.receive(data, V2["now"])
    [received] = [e for e in events if isinstance(e, ItemReceived)]
    assert isinstance(received.item, Message)
    assert received.item.text == V2["item"]["text"]
    assert received.envelope_hash == envelope_hash(data)
    ack = channel.ack()
    assert ack[:3] == b"BA\x02" and len(ack) == len(bytes.fromhex(V2["ack"])) == 119
