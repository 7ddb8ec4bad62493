"""Every decoder of bytes that come from outside, as a fuzz target, with real seeds.

A target takes any bytes and must either return or raise the decoder's own error
(``ProtocolError`` for the wire and snapshots, ``BundleError`` for files anyone may
hand us); anything else — an ``IndexError``, a ``KeyError``, a ``struct.error``, a
hang — is a bug, which atheris reports as a crash.  ``SEEDS`` are genuine inputs made
here, so the fuzzer starts from the inside of each format rather than its front door.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from datetime import UTC, datetime

from backchannel.protocol import Message, ProtocolError, create_invitation
from backchannel.protocol.attachments import AttachmentRef, check_refs, open_chunk, seal_chunk
from backchannel.protocol.channel import SNAPSHOT_KIND, Channel
from backchannel.protocol.encoding import decode, encode
from backchannel.protocol.identity import Identity
from backchannel.protocol.items import _REGISTRY, AuditHead, TlsPins, decode_item, encode_item
from backchannel.protocol.pairing import Acceptance, SignedInvitation, accept_invitation
from backchannel.protocol.release import (
    BundleError,
    Manifest,
    ReleasedText,
    ReleaseRequest,
    bundle_of,
    consent,
    keys_document,
    read_bundle,
    read_keys,
    verify_bundle,
)
from backchannel.protocol.sealing import seal, unseal
from backchannel.protocol.witness import WitnessPage, WitnessQuery, read_plain
from backchannel.station.core.batches import decode_batch, encode_batch
from backchannel.testing import ChannelPair

EXPECTED: tuple[type[Exception], ...] = (ProtocolError, BundleError)
KEY = bytes(range(32))
NOW = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


def _message(text: str) -> Message:
    return Message(text=text, language="en", from_role="officer", to_role="principal")


class _World:
    """One paired channel, one invitation and acceptance, one release: the seeds' source."""

    def __init__(self) -> None:
        self.pair = ChannelPair.create()
        self.old = ChannelPair.create(version=1)
        a = Identity.generate("Ministry of Defence of Aurelia", "aurelia-hq")
        b = Identity.generate("Ministry of Defence of Borduria", "borduria-hq")
        pending = create_invitation(
            a, "https://a.example/peer", self.pair.clock(), tls_pins=(bytes(range(32)),)
        )
        self.invitation = pending.invitation.encode()
        _channel, acceptance = accept_invitation(
            b, pending.invitation, "https://b.example/peer", self.pair.clock(),
            tls_pins=(bytes(range(32, 64)),),
        )  # fmt: skip
        self.acceptance = acceptance.encode()
        request = ReleaseRequest(
            request_id=bytes(16), title="Joint notice", date="2026-05-03",
            texts=(ReleasedText(bytes(32), "verbatim", "Exercise NORTHERN GATE, 3-5 May."),),
            statement="Both confirm that this was exchanged on their line.",
        )  # fmt: skip
        manifest = Manifest.of(request, a.public, b.public)
        consents = {i.public.fingerprint(): consent(i, manifest) for i in (a, b)}
        self.bundle = bundle_of(manifest, consents)
        self.keys = keys_document(a.public)


@functools.cache
def world() -> _World:
    return _World()


def envelope(data: bytes) -> None:
    w = world()
    for pair in (w.pair, w.old):
        with contextlib.suppress(ProtocolError):
            pair.b.channel.read(data)
            pair.b.channel.receive(data, pair.clock())


def ack(data: bytes) -> None:
    world().pair.a.channel.receive_ack(data)


def heads(data: bytes) -> None:
    channel = world().pair.b.channel
    channel.heads_message(data)
    channel.answer_heads(data)


def batch(data: bytes) -> None:
    decode_batch(data)


def invitation(data: bytes) -> None:
    SignedInvitation.decode(data).verify(NOW)


def acceptance(data: bytes) -> None:
    Acceptance.decode(data)


def bundle(data: bytes) -> None:
    read_bundle(data)
    verify_bundle(data)


def keys(data: bytes) -> None:
    read_keys(data)


def snapshot(data: bytes) -> None:
    """A snapshot's contents as if sealed by us: the decoder behind the seal."""
    Channel.restore(seal(KEY, SNAPSHOT_KIND, data), KEY)


_TYPES = sorted(_REGISTRY)


def item(data: bytes) -> None:
    """Every registered item type's decoder: the first byte picks the type."""
    if data:
        decode_item(_TYPES[data[0] % len(_TYPES)], data[1:])


def witness(data: bytes) -> None:
    """A witness query's or page's plaintext, as if opened with the channel's key."""
    for kind in (WitnessQuery, WitnessPage):
        with contextlib.suppress(ProtocolError):
            read_plain(data, kind)


# A reference of a 100-byte file (one chunk) under a fixed key, for sealed chunks.
_REF = AttachmentRef("memo.pdf", "application/pdf", 100, bytes(32), KEY)


def attachment(data: bytes) -> None:
    """An item's attachment list as the item decoder reads it, or a sealed chunk."""
    if data[:1] == b"R":
        refs = decode(data[1:], tuple[AttachmentRef, ...], limit=64 * 1024, what="refs")
        try:
            check_refs(refs)
        except ValueError:
            return
    else:
        open_chunk(_REF, 0, data)


def _seeds() -> dict[str, list[bytes]]:
    w = world()
    envelopes = [w.pair.a.send(_message(t)) for t in ("ok", "x" * 3000)]
    envelopes.append(w.old.a.send(_message("old")))
    acks = [w.pair.b.receive(envelopes[0])[1], w.old.b.receive(envelopes[2])[1]]
    probe = w.pair.a.channel.heads_probe(os.urandom(16))
    plain = w.pair.b.channel.snapshot(KEY)
    items = [
        bytes([_TYPES.index("message")]) + encode_item(_message("hello")),
        bytes([_TYPES.index("checkpoint")]) + encode_item(w.pair.a.channel.checkpoint()),
        bytes([_TYPES.index("tls-pins")]) + encode_item(TlsPins((bytes(32), bytes([1]) * 32))),
        bytes([_TYPES.index("audit-head")]) + encode_item(AuditHead(64, bytes(32))),
    ]
    page = WitnessPage(bytes(16), ((4, bytes(32)), (8, bytes([1]) * 32)), more=True)
    return {
        "envelope": envelopes,
        "ack": acks,
        "heads": [probe],
        "batch": [encode_batch(envelopes[:2])],
        "invitation": [w.invitation],
        "acceptance": [w.acceptance],
        "bundle": [w.bundle],
        "keys": [w.keys],
        "snapshot": [unseal(KEY, SNAPSHOT_KIND, plain)],
        "item": items,
        "witness": [_plain(WitnessQuery(bytes(16), 7)), _plain(page)],
        "attachment": [b"R" + encode((_REF,)), seal_chunk(_REF, 0, bytes(100))],
    }


def _plain(message: WitnessQuery | WitnessPage) -> bytes:
    encoded = encode(message)
    return len(encoded).to_bytes(4, "big") + encoded + bytes(16)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "envelope": envelope,
    "ack": ack,
    "heads": heads,
    "batch": batch,
    "invitation": invitation,
    "acceptance": acceptance,
    "bundle": bundle,
    "keys": keys,
    "snapshot": snapshot,
    "item": item,
    "witness": witness,
    "attachment": attachment,
}


def seeds(name: str) -> list[bytes]:
    return _seeds()[name]


def check(name: str, data: bytes) -> None:
    """Run one target on ``data``; its own errors are answers, anything else is raised."""
    with contextlib.suppress(*EXPECTED):
        TARGETS[name](data)
