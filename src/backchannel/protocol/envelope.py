"""The version-2 wire: what an observer of the line can still read, and nothing more.

A version-1 envelope carried its channel, both station ids, sequence number, item
type and epoch in a clear header, at its exact size.  Version 2 keeps in the clear
only what the receiver needs before it holds any key of the envelope, and pads the
rest (``padding.py``)::

    "BC" 2 | flags (1) | channel id (16) | nonce (12) | position (24) | [renewal] | body

- *flags*: bit 0 says an ML-KEM-768 renewal ciphertext (1,088 bytes) follows; it has
  to be read before the body's key exists.  No other bit may be set.
- *channel id*: which channel this is, so the receiver finds its keys.  Chosen at
  random by the inviter for each channel, so it links envelopes of one channel (as
  the two addresses do) and nothing across channels.
- *nonce*: the outer AEAD's random nonce.
- *position*: sequence number, epoch and renewal offer id (8 bytes each), XORed with
  a mask that ChaCha20 draws from the nonce under a per-direction key (header
  protection, as QUIC does it).  The receiver needs the sequence number before it
  opens the envelope, to tell a retransmission, a conflict and an early envelope
  apart; an observer sees 24 random bytes.
- *body*: the outer AEAD ciphertext of ``u32 length | Olm message | zeros``, its
  size chosen so that the whole envelope is a bucket's size.

Sender and receiver ids are not on the wire at all: both ends know them, and the
associated data binds them with every unmasked field.  The item type is inside,
in the Olm plaintext (``InnerV2``).  A flip of a masked bit changes the unmasked
value the AEAD checks, so tampering fails exactly as it did in the clear header.

An acknowledgement is ``"BA" 2 | channel id | nonce | AEAD(seq | head | tag)``,
119 bytes whatever it acknowledges; a heads message (``heads.py``) is
``"BH" 2 | channel id | nonce | AEAD(u16 length | version-1 message | zeros)``,
367 bytes whatever it says; both under the sender's control key.  A batch is
``"BB" 2 | u32 length | MessagePack array of envelopes | zeros``, padded like an
envelope.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .errors import AuthenticationFailed, LocalProtocolError, RemoteProtocolError
from .kdf import derive_key
from .padding import bucket
from .wire import (
    MAX_ENVELOPE_BYTES,
    MAX_INNER_BYTES,
    Count,
    Hash,
    KemOffer,
    KemRenewal,
    TypeName,
)

VERSION = 2
ENVELOPE_PREFIX = b"BC\x02"
ACK_PREFIX = b"BA\x02"
BATCH_PREFIX = b"BB\x02"
RENEWAL_FLAG = 0x01
KEM_CIPHERTEXT_BYTES = 1088
TAG_BYTES = 16
NONCE_BYTES = 12
_POSITION = struct.Struct(">QQQ")  # seq, epoch, renewal offer id (0 without a renewal)
CLEAR_BYTES = 4 + 16 + NONCE_BYTES + _POSITION.size  # before the renewal and the body
ACK_PLAIN = struct.Struct(">Q32s32s")  # seq, head, tag
ACK_BYTES = len(ACK_PREFIX) + 16 + NONCE_BYTES + ACK_PLAIN.size + TAG_BYTES
HEADS_PREFIX = b"BH\x02"
HEADS_PLAIN = 320  # a version-1 heads message is about 200 bytes
HEADS_BYTES = len(HEADS_PREFIX) + 16 + NONCE_BYTES + HEADS_PLAIN + TAG_BYTES
_SHORT = struct.Struct(">H")
_LENGTH = struct.Struct(">I")
MAX_POSITION = 2**62


class InnerV2(msgspec.Struct, array_like=True, frozen=True):
    """The Olm plaintext of a version-2 envelope: version 1's, with the item type."""

    header_digest: Hash
    prev_hash: Hash
    peer_seq: Count
    peer_hash: Hash
    offer: KemOffer | None
    item_type: TypeName
    item: bytes


@dataclass(frozen=True)
class WireKeys:
    """The per-direction keys of the version-2 wire, derived from the channel's MAC key
    (each held as its cipher: making one costs more than using it)."""

    send_mask: ChaCha20Poly1305
    recv_mask: ChaCha20Poly1305
    send_control: ChaCha20Poly1305
    recv_control: ChaCha20Poly1305

    @classmethod
    def derive(cls, mac_key: bytes, channel_id: bytes, local: bytes, peer: bytes) -> WireKeys:
        def key(label: str, sender: bytes, receiver: bytes) -> ChaCha20Poly1305:
            return ChaCha20Poly1305(derive_key(mac_key, label, channel_id, sender, receiver))

        return cls(
            key("header-mask", local, peer),
            key("header-mask", peer, local),
            key("control", local, peer),
            key("control", peer, local),
        )


class Envelope(NamedTuple):
    """An envelope as the receiver reads it: what the AEAD binds, and the body.

    ``item_type`` is known here only for version 1 (its clear header); version 2
    carries it inside.  (A tuple: one is made for every envelope received, and a
    frozen dataclass costs four times as much to make.)
    """

    version: int
    channel_id: bytes
    seq: int
    epoch: int
    renewal: KemRenewal | None
    nonce: bytes
    item_type: str | None
    ad: bytes
    body: bytes


_ZEROS = bytes(_POSITION.size)


def _masked(cipher: ChaCha20Poly1305, nonce: bytes, position: bytes) -> bytes:
    """``position`` XOR the ChaCha20 keystream of (mask key, nonce).

    The keystream is taken as the first bytes of the AEAD's encryption of zeros (its
    tag is dropped): the same ChaCha20 keystream, from a cipher object made once.
    """
    mask = cipher.encrypt(nonce, _ZEROS, None)[: len(_ZEROS)]
    value = int.from_bytes(position, "big") ^ int.from_bytes(mask, "big")
    return value.to_bytes(len(_ZEROS), "big")


def associated_data(clear: bytes, position: bytes, sender: bytes, receiver: bytes) -> bytes:
    """What the outer AEAD binds: the clear fields, the unmasked position, both ids."""
    return clear + position + sender + receiver


class Draft(NamedTuple):
    """A version-2 envelope being built: its clear part and what the AEAD binds."""

    clear: bytes
    ad: bytes


def draft(
    keys: WireKeys,
    channel_id: bytes,
    ids: tuple[bytes, bytes],
    position: tuple[int, int, KemRenewal | None],
    nonce: bytes,
) -> Draft:
    """Lay out the clear part of an envelope at ``position`` (seq, epoch, renewal)."""
    seq, epoch, renewal = position
    unmasked = _POSITION.pack(seq, epoch, renewal.offer_id if renewal is not None else 0)
    flags = bytes([RENEWAL_FLAG if renewal is not None else 0])
    start = ENVELOPE_PREFIX + flags + channel_id + nonce
    kem = renewal.ciphertext if renewal is not None else b""
    masked = _masked(keys.send_mask, nonce, unmasked)
    return Draft(start + masked + kem, associated_data(start, unmasked, *ids) + kem)


def padded(clear: bytes, olm: bytes) -> bytes:
    """``u32 length | olm | zeros``: the outer plaintext that makes the envelope a bucket."""
    needed = len(clear) + _LENGTH.size + len(olm) + TAG_BYTES
    if needed > MAX_ENVELOPE_BYTES:
        raise LocalProtocolError(f"the envelope would be {needed} bytes, over the limit")
    zeros = min(bucket(needed), MAX_ENVELOPE_BYTES) - needed
    return _LENGTH.pack(len(olm)) + olm + bytes(zeros)


def unpad_plaintext(plaintext: bytes) -> bytes:
    """The Olm message inside an opened body (authenticated: no canonical check needed)."""
    if len(plaintext) < _LENGTH.size:
        raise AuthenticationFailed
    (length,) = _LENGTH.unpack_from(plaintext)
    if length > len(plaintext) - _LENGTH.size or length > MAX_INNER_BYTES:
        raise AuthenticationFailed
    return plaintext[_LENGTH.size : _LENGTH.size + length]


def channel_of(data: bytes) -> bytes:
    """The channel id of an envelope of either version (for finding its keys)."""
    if data[:3] == ENVELOPE_PREFIX and len(data) >= CLEAR_BYTES:
        return data[4:20]
    raise RemoteProtocolError("not a version-2 envelope")


def read(data: bytes, keys: WireKeys, ids: tuple[bytes, bytes]) -> Envelope:
    """Unmask a version-2 envelope's position; ``ids`` is (sender, receiver)."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise RemoteProtocolError(
            f"envelope is {len(data)} bytes, more than the limit of {MAX_ENVELOPE_BYTES}"
        )
    if len(data) < CLEAR_BYTES + TAG_BYTES or data[:3] != ENVELOPE_PREFIX:
        raise RemoteProtocolError("not a backchannel envelope")
    flags = data[3]
    if flags & ~RENEWAL_FLAG:
        raise RemoteProtocolError("malformed envelope: unknown flags")
    channel_id, nonce = data[4:20], data[20:32]
    position = _masked(keys.recv_mask, nonce, data[32:CLEAR_BYTES])
    seq, epoch, offer_id = _POSITION.unpack(position)
    if not 1 <= seq <= MAX_POSITION or epoch > MAX_POSITION or offer_id > MAX_POSITION:
        raise RemoteProtocolError("malformed envelope: position out of range")
    body_at, renewal = CLEAR_BYTES, None
    if flags & RENEWAL_FLAG:
        body_at += KEM_CIPHERTEXT_BYTES
        renewal = KemRenewal(offer_id, data[CLEAR_BYTES:body_at])
    elif offer_id:
        raise RemoteProtocolError("malformed envelope: an offer id without a renewal")
    if len(data) < body_at + TAG_BYTES:
        raise RemoteProtocolError("malformed envelope: too short")
    kem = data[CLEAR_BYTES:body_at]
    ad = associated_data(data[: CLEAR_BYTES - _POSITION.size], position, *ids) + kem
    return Envelope(2, channel_id, seq, epoch, renewal, nonce, None, ad, data[body_at:])


# -- filler (cover traffic) -----------------------------------------------------------------

FILLER_BYTES = 1024  # the smallest bucket, which every short item fills too
_FILLER_START = ENVELOPE_PREFIX + b"\x00"


def make_filler(keys: WireKeys, channel_id: bytes, ids: tuple[bytes, bytes], nonce: bytes) -> bytes:
    """An envelope that carries nothing: position 0 (no item has it), its body sealed
    under the sender's control key.  On the wire it is any short envelope."""
    start = _FILLER_START + channel_id + nonce
    clear = start + _masked(keys.send_mask, nonce, _ZEROS)
    ad = associated_data(start, _ZEROS, *ids)
    return clear + keys.send_control.encrypt(
        nonce, bytes(FILLER_BYTES - len(clear) - TAG_BYTES), ad
    )


def is_filler(data: bytes, keys: WireKeys, ids: tuple[bytes, bytes]) -> bool:
    """Whether ``data`` is the peer's filler (``ids``: sender, receiver).  False for any
    other envelope; AuthenticationFailed for one at position 0 that the peer did not make."""
    if len(data) != FILLER_BYTES or data[:4] != _FILLER_START:
        return False
    nonce = data[20:32]
    if _masked(keys.recv_mask, nonce, data[32:CLEAR_BYTES]) != _ZEROS:
        return False
    ad = associated_data(data[: CLEAR_BYTES - _POSITION.size], _ZEROS, *ids)
    try:
        keys.recv_control.decrypt(nonce, data[CLEAR_BYTES:], ad)
    except InvalidTag:
        raise AuthenticationFailed from None
    return True


# -- acknowledgements ------------------------------------------------------------------------


def seal_ack(
    key: ChaCha20Poly1305, channel_id: bytes, nonce: bytes, plain: tuple[int, bytes, bytes]
) -> bytes:
    """A 119-byte acknowledgement: (seq, head, tag) under the sender's control key."""
    clear = ACK_PREFIX + channel_id + nonce
    return clear + key.encrypt(nonce, ACK_PLAIN.pack(*plain), clear)


def open_ack(key: ChaCha20Poly1305, data: bytes) -> tuple[bytes, int, bytes, bytes]:
    """(channel id, seq, head, tag) of an acknowledgement, if ``key`` opens it."""
    if len(data) != ACK_BYTES or data[:3] != ACK_PREFIX:
        raise RemoteProtocolError("not a backchannel acknowledgement")
    clear, nonce = data[:31], data[19:31]
    try:
        plain = key.decrypt(nonce, data[31:], clear)
    except InvalidTag:
        raise AuthenticationFailed from None
    seq, head, tag = ACK_PLAIN.unpack(plain)
    if seq > MAX_POSITION:
        raise RemoteProtocolError("malformed acknowledgement")
    return data[3:19], seq, head, tag


# -- heads messages -------------------------------------------------------------------------


def seal_heads(key: ChaCha20Poly1305, channel_id: bytes, nonce: bytes, message: bytes) -> bytes:
    """A heads message (version-1 bytes, tagged) sealed and padded to 367 bytes."""
    if len(message) > HEADS_PLAIN - _SHORT.size:
        raise LocalProtocolError("a heads message is too long to seal")
    plain = _SHORT.pack(len(message)) + message + bytes(HEADS_PLAIN - _SHORT.size - len(message))
    clear = HEADS_PREFIX + channel_id + nonce
    return clear + key.encrypt(nonce, plain, clear)


def heads_channel(data: bytes) -> bytes:
    """The channel a sealed heads message is for (to find the key that opens it)."""
    if len(data) != HEADS_BYTES or data[:3] != HEADS_PREFIX:
        raise RemoteProtocolError("not a backchannel heads message")
    return data[3:19]


def open_heads(key: ChaCha20Poly1305, data: bytes) -> bytes:
    """The version-1 bytes inside a sealed heads message, if ``key`` opens it."""
    heads_channel(data)
    clear, nonce = data[:31], data[19:31]
    try:
        plain = key.decrypt(nonce, data[31:], clear)
    except InvalidTag:
        raise AuthenticationFailed from None
    (length,) = _SHORT.unpack_from(plain)
    if length > len(plain) - _SHORT.size:
        raise RemoteProtocolError("malformed heads message")
    return plain[_SHORT.size : _SHORT.size + length]


# -- batches -----------------------------------------------------------------------------------


def pad_batch(encoded: bytes, limit: int) -> bytes:
    """A batch's MessagePack array, framed and padded to its bucket (at most ``limit``)."""
    needed = len(BATCH_PREFIX) + _LENGTH.size + len(encoded)
    size = max(needed, min(bucket(needed), limit))
    return BATCH_PREFIX + _LENGTH.pack(len(encoded)) + encoded + bytes(size - needed)


def unpad_batch(data: bytes) -> memoryview:
    """The MessagePack array inside a padded batch; the padding must be zeros."""
    start = len(BATCH_PREFIX) + _LENGTH.size
    if len(data) < start or data[:3] != BATCH_PREFIX:
        raise RemoteProtocolError("not a backchannel batch")
    (length,) = _LENGTH.unpack_from(data, 3)
    end = start + length
    if end > len(data) or data[end:] != bytes(len(data) - end):
        raise RemoteProtocolError("malformed batch: bad length or padding")
    return memoryview(data)[start:end]
