"""Pairing: invitations, acceptance, the safety number and confirmation."""

from __future__ import annotations

import msgspec
import pytest

from backchannel.protocol import (
    Acceptance,
    AuthenticationFailed,
    ChannelActive,
    Identity,
    LocalProtocolError,
    Message,
    Pairing,
    PairingConfirm,
    PeerConfirmed,
    PendingInvitation,
    RemoteProtocolError,
    SignedInvitation,
    accept_invitation,
    complete_pairing,
    create_invitation,
    safety_number,
)
from backchannel.protocol.armor import armor, dearmor
from backchannel.protocol.encoding import encode
from backchannel.protocol.identity import INVITATION_LABEL, RELEASE_LABEL
from backchannel.protocol.pairing import InvitationBody
from backchannel.testing import START_TIME, ChannelPair

NOW = START_TIME
KEY = bytes(range(32))


@pytest.fixture(scope="module")
def identities() -> tuple[Identity, Identity]:
    return Identity.generate("Aurelia MoD", "aurelia-1"), Identity.generate("Borduria MoD", "bd-1")


def invite(a: Identity, ttl: float = 3600) -> PendingInvitation:
    return create_invitation(a, "https://a.example/peer", NOW, ttl_seconds=ttl)


def test_pairing_round_trip_and_confirmation(identities: tuple[Identity, Identity]) -> None:
    a, b = identities
    pending = invite(a)
    wire = SignedInvitation.decode(pending.invitation.encode())
    chan_b, acceptance = accept_invitation(b, wire, "https://b.example/peer", NOW)
    chan_a = complete_pairing(a, pending, Acceptance.decode(acceptance.encode()), NOW)
    assert chan_a.safety_number == chan_b.safety_number
    assert chan_a.safety_number == safety_number(b.public, a.public)
    assert len(chan_a.safety_number.split()) == 12
    assert chan_a.peer_endpoint == "https://b.example/peer"
    assert chan_b.peer_endpoint == "https://a.example/peer"
    assert chan_a.pairing is Pairing.AWAITING_CONFIRMATION

    # Nothing but pairing traffic until both confirm.
    msg = Message(text="hi", language="en", from_role="officer", to_role="officer")
    with pytest.raises(LocalProtocolError, match="only pairing items"):
        chan_a.send_item(msg, NOW)
    confirm_a = chan_a.confirm(NOW)
    assert Pairing(chan_a.pairing) is Pairing.LOCAL_CONFIRMED
    with pytest.raises(LocalProtocolError, match="cannot confirm"):
        chan_a.confirm(NOW)
    events = chan_b.receive(confirm_a, NOW)
    assert PeerConfirmed() in events and ChannelActive() not in events
    assert chan_b.pairing is Pairing.PEER_CONFIRMED
    events = chan_a.receive(chan_b.confirm(NOW), NOW)
    assert events[1:] == [PeerConfirmed(), ChannelActive()]
    assert [chan_a.pairing, chan_b.pairing] == [Pairing.ACTIVE, Pairing.ACTIVE]
    chan_b.receive(chan_a.send_item(msg, NOW), NOW)


def test_expired_invitation_is_refused(identities: tuple[Identity, Identity]) -> None:
    a, b = identities
    pending = invite(a, ttl=60)
    with pytest.raises(RemoteProtocolError, match="expired"):
        accept_invitation(b, pending.invitation, "https://b.example", NOW + 61)
    _, acceptance = accept_invitation(b, pending.invitation, "https://b.example", NOW + 59)
    with pytest.raises(RemoteProtocolError, match="expired"):
        complete_pairing(a, pending, acceptance, NOW + 61)


def test_an_invitation_from_a_clock_far_ahead_is_refused(
    identities: tuple[Identity, Identity],
) -> None:
    a, b = identities
    year = 365 * 24 * 3600
    ahead = create_invitation(a, "https://a.example", NOW + year)  # the inviter's clock
    with pytest.raises(RemoteProtocolError, match="clock may be ahead"):
        accept_invitation(b, ahead.invitation, "https://b.example", NOW)
    _, acceptance = accept_invitation(b, ahead.invitation, "https://b.example", NOW + year)
    with pytest.raises(RemoteProtocolError, match="clock may be ahead"):  # its own, set right
        complete_pairing(a, ahead, acceptance, NOW)
    with pytest.raises(LocalProtocolError, match="at most 30 days"):
        create_invitation(a, "https://a.example", NOW, ttl_seconds=31 * 24 * 3600)


def test_reused_invitation_is_refused(identities: tuple[Identity, Identity]) -> None:
    a, b = identities
    pending = invite(a)
    _, first = accept_invitation(b, pending.invitation, "https://b.example", NOW)
    _, second = accept_invitation(b, pending.invitation, "https://b.example", NOW)
    complete_pairing(a, pending, first, NOW)
    with pytest.raises(RemoteProtocolError, match="already used"):
        complete_pairing(a, pending, second, NOW)
    restored = PendingInvitation.restore(pending.snapshot(KEY), KEY)
    with pytest.raises(RemoteProtocolError, match="already used"):
        complete_pairing(a, restored, first, NOW)


def _resign(inv: SignedInvitation, **changes: object) -> SignedInvitation:
    return msgspec.structs.replace(inv, body=msgspec.structs.replace(inv.body, **changes))


def test_wrongly_signed_invitation_is_refused(identities: tuple[Identity, Identity]) -> None:
    a, b = identities
    inv = invite(a).invitation
    forged = _resign(inv, endpoint="https://mallory.example")
    with pytest.raises(RemoteProtocolError, match="signature is not valid"):
        accept_invitation(b, forged, "https://b.example", NOW)
    later = _resign(inv, expires_at=inv.body.expires_at + 10**6)
    with pytest.raises(RemoteProtocolError, match="signature is not valid"):
        accept_invitation(b, later, "https://b.example", NOW)
    for sig in ("ed25519_sig", "mldsa65_sig"):
        original = getattr(inv, sig)
        broken = msgspec.structs.replace(inv, **{sig: bytes([original[0] ^ 1]) + original[1:]})
        with pytest.raises(RemoteProtocolError, match="signature is not valid"):
            accept_invitation(b, broken, "https://b.example", NOW)


def test_invitation_from_self_and_bad_bytes(identities: tuple[Identity, Identity]) -> None:
    a, _ = identities
    inv = invite(a).invitation
    with pytest.raises(RemoteProtocolError, match="this very station"):
        accept_invitation(a, inv, "https://a.example", NOW)
    for data in (b"", b"garbage", inv.encode()[:-1], b"BCI\x03" + inv.encode()[4:]):
        with pytest.raises(RemoteProtocolError):
            SignedInvitation.decode(data)
    with pytest.raises(RemoteProtocolError, match="limit"):
        SignedInvitation.decode(b"BCI\x02" + bytes(20_000))


def flipped(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x01])


def test_tampered_acceptance_is_refused_and_changes_nothing(
    identities: tuple[Identity, Identity],
) -> None:
    a, b = identities
    pending = invite(a)
    _, acceptance = accept_invitation(b, pending.invitation, "https://b.example", NOW)
    other = Identity.generate("Mallory", "m-1")
    tampered = [
        msgspec.structs.replace(acceptance, endpoint="https://mallory.example"),
        # the last byte flipped (set to a fixed value, it was already that value in 1/256)
        msgspec.structs.replace(acceptance, olm_prekey=flipped(acceptance.olm_prekey)),
        msgspec.structs.replace(acceptance, olm_prekey=b"junk"),
        msgspec.structs.replace(acceptance, identity=other.public),
    ]
    for bad in tampered:
        with pytest.raises(AuthenticationFailed):
            complete_pairing(a, pending, bad, NOW)
    wrong_invitation = msgspec.structs.replace(acceptance, invitation_digest=bytes(32))
    with pytest.raises(RemoteProtocolError, match="different invitation"):
        complete_pairing(a, pending, wrong_invitation, NOW)
    # The one-time key survived every failed attempt: the genuine acceptance still pairs.
    channel = complete_pairing(a, pending, acceptance, NOW)
    assert channel.pairing is Pairing.AWAITING_CONFIRMATION


def test_confirming_a_different_safety_number_is_refused() -> None:
    pair = ChannelPair.create(confirm=False)
    real = pair.a.channel._safety_digest
    pair.a.channel._safety_digest = lambda: bytes(32)  # type: ignore[method-assign]
    data = pair.a.channel.confirm(pair.clock())
    pair.a.channel._safety_digest = real  # type: ignore[method-assign]
    with pytest.raises(RemoteProtocolError, match="different safety number"):
        pair.b.channel.receive(data, pair.clock())
    assert pair.b.channel.pairing is Pairing.AWAITING_CONFIRMATION


def test_signing_keys_sign_only_invitations_and_releases(
    identities: tuple[Identity, Identity],
) -> None:
    a, _ = identities
    for label in (INVITATION_LABEL, RELEASE_LABEL):
        ed_sig, dsa_sig = a.sign(label, b"statement")
        a.public.verify(label, b"statement", ed_sig, dsa_sig)
        with pytest.raises(RemoteProtocolError):
            a.public.verify(label, b"statement!", ed_sig, dsa_sig)
    for label in ("message", "item", "checkpoint", ""):
        with pytest.raises(LocalProtocolError, match="never sign"):
            a.sign(label, b"statement")
    ed_sig, dsa_sig = a.sign(INVITATION_LABEL, b"x")
    with pytest.raises(RemoteProtocolError):  # domain separation between the two labels
        a.public.verify(RELEASE_LABEL, b"x", ed_sig, dsa_sig)


def test_identity_snapshot_round_trip_and_wrong_key(identities: tuple[Identity, Identity]) -> None:
    a, _ = identities
    sealed = a.snapshot(KEY)
    restored = Identity.restore(sealed, KEY)
    assert restored.public == a.public
    with pytest.raises(LocalProtocolError, match="does not open"):
        Identity.restore(sealed, bytes(32))
    with pytest.raises(LocalProtocolError, match="32 bytes"):
        Identity.restore(sealed, b"short")
    with pytest.raises(LocalProtocolError, match="unknown format"):
        Identity.restore(b"nonsense", KEY)


def test_bad_names_and_endpoints_are_refused() -> None:
    for party in ("", "   ", "x" * 101, "tab\there"):
        with pytest.raises(LocalProtocolError, match="party name"):
            Identity.generate(party, "s")
    a = Identity.generate("A", "a")
    for url in ("ftp://x", "https://a b", "x" * 3000, "https://" + "a" * 3000):
        with pytest.raises(LocalProtocolError, match="endpoint"):
            create_invitation(a, url, NOW)
    with pytest.raises(LocalProtocolError, match="positive"):
        create_invitation(a, "https://a.example", NOW, ttl_seconds=0)


def test_public_identity_with_wrong_key_size_is_refused(
    identities: tuple[Identity, Identity],
) -> None:
    a, b = identities
    inv = invite(a).invitation
    short = msgspec.structs.replace(inv.body.identity, curve25519=b"\x00" * 31)
    with pytest.raises(RemoteProtocolError, match="curve25519 key must be 32 bytes"):
        accept_invitation(b, _resign(inv, identity=short), "https://b.example", NOW)


def test_pairing_items_go_only_through_confirm() -> None:
    pair = ChannelPair.create(confirm=False)
    with pytest.raises(LocalProtocolError, match="sent by confirm"):
        pair.a.channel.send_item(PairingConfirm(bytes(32)), pair.clock())
    assert pair.a.channel.sent_seq == 0


def test_spent_invitation_forgets_its_one_time_kem_key(
    identities: tuple[Identity, Identity],
) -> None:
    a, b = identities
    pending = invite(a)
    _, acceptance = accept_invitation(b, pending.invitation, "https://b.example", NOW)
    complete_pairing(a, pending, acceptance, NOW)
    assert pending.kem_seed == b""
    assert PendingInvitation.restore(pending.snapshot(KEY), KEY).kem_seed == b""


def test_invitation_with_unusable_keys_is_refused_cleanly(
    identities: tuple[Identity, Identity],
) -> None:
    # A malicious inviter signs keys that do not load: a clear refusal, no ValueError.
    evil = Identity.generate("Mallory", "m-1")
    inv = invite(evil).invitation
    bad_kem = _sign(evil, msgspec.structs.replace(inv.body, kem_key=b"\xff" * 1184))
    with pytest.raises(RemoteProtocolError, match="post-quantum public key"):
        accept_invitation(identities[1], bad_kem, "https://b.example", NOW)
    bad_curve = _sign(evil, msgspec.structs.replace(inv.body, one_time_key=bytes(32)))
    with pytest.raises(RemoteProtocolError, match="Curve25519"):
        accept_invitation(identities[1], bad_curve, "https://b.example", NOW)


def _sign(identity: Identity, body: InvitationBody) -> SignedInvitation:
    ed_sig, dsa_sig = identity.sign(INVITATION_LABEL, encode(body))
    return SignedInvitation(body, ed_sig, dsa_sig)


def test_invitation_armour_round_trips_and_refuses_damage(
    identities: tuple[Identity, Identity],
) -> None:
    data = invite(identities[0]).invitation.encode()
    text = armor(data)
    assert dearmor(text) == data
    assert dearmor("\n  " + text.replace("\n", "\r\n") + "\n") == data
    lines = text.splitlines()
    damaged = "\n".join([lines[0], lines[1][:-2] + "!!", *lines[2:]])
    for bad, reason in (
        ("", "armour lines missing"),
        (text.replace("BEGIN", "START"), "armour lines missing"),
        (damaged, "bad base64"),
        ("x" * 40_000, "too large"),
    ):
        with pytest.raises(RemoteProtocolError, match=reason):
            dearmor(bad)


PIN_A, PIN_B, PIN_MALLORY = bytes([1]) * 32, bytes([2]) * 32, bytes([3]) * 32


def test_each_side_names_its_tls_pins_and_they_are_authenticated(
    identities: tuple[Identity, Identity],
) -> None:
    a, b = identities
    pending = create_invitation(a, "https://a.example", NOW, tls_pins=(PIN_A,))
    wire = SignedInvitation.decode(pending.invitation.encode())
    assert wire.body.tls_pins == (PIN_A,)
    with pytest.raises(RemoteProtocolError, match="signature is not valid"):  # signed
        accept_invitation(b, _resign(wire, tls_pins=(PIN_MALLORY,)), "https://b.example", NOW)
    _, acceptance = accept_invitation(b, wire, "https://b.example", NOW, tls_pins=(PIN_B,))
    wire_acceptance = Acceptance.decode(acceptance.encode())
    assert wire_acceptance.tls_pins == (PIN_B,)
    for swapped in ((PIN_MALLORY,), (), (PIN_B, PIN_MALLORY)):  # bound to the pairing secret
        bad = msgspec.structs.replace(wire_acceptance, tls_pins=swapped)
        with pytest.raises(AuthenticationFailed):
            complete_pairing(a, pending, bad, NOW)
    complete_pairing(a, pending, wire_acceptance, NOW)


def test_pins_are_bounded_and_distinct(identities: tuple[Identity, Identity]) -> None:
    a, _ = identities
    for pins in ((PIN_A, PIN_A), tuple(bytes([n]) * 32 for n in range(5)), (b"short",)):
        with pytest.raises(LocalProtocolError, match="pin"):
            create_invitation(a, "https://a.example", NOW, tls_pins=pins)


def test_a_version_1_invitation_or_acceptance_is_refused_with_what_to_do() -> None:
    for magic, what in ((b"BCI\x01", "invitation"), (b"BCA\x01", "acceptance")):
        decoder = SignedInvitation.decode if what == "invitation" else Acceptance.decode
        with pytest.raises(RemoteProtocolError, match=rf"this {what} is of version 1.*new"):
            decoder(magic + bytes(40))
