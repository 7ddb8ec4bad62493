"""The wire formats: envelopes and delivery acknowledgements.

An envelope is ``b"BC" | version | msgpack([header, body])``.  The header is in
the clear and is the AEAD's associated data, so it binds protocol version,
channel, sender, receiver, sequence number, item type, epoch and any key renewal.
The body is the outer AEAD ciphertext of the inner Olm message, whose plaintext
(``Inner``) repeats a digest of the header and carries the transcript links, so
both layers authenticate the header.  The version byte comes before any parsing:
an unknown version is refused outright, never reinterpreted (no downgrade).
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from .encoding import bin_header_bytes, decode, encode
from .errors import RemoteProtocolError
from .kdf import digest, hash_bytes

MAGIC = b"BC"
ACK_MAGIC = b"BA"
VERSION = 1
MAX_ENVELOPE_BYTES = 256 * 1024
MAX_ACK_BYTES = 256
MAX_INNER_BYTES = MAX_ENVELOPE_BYTES

Id16 = Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
Hash = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
Nonce = Annotated[bytes, msgspec.Meta(min_length=12, max_length=12)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
TypeName = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
KemCiphertext = Annotated[bytes, msgspec.Meta(min_length=1088, max_length=1088)]
KemPublicKey = Annotated[bytes, msgspec.Meta(min_length=1184, max_length=1184)]


class KemRenewal(msgspec.Struct, array_like=True, frozen=True):
    """Starts a new epoch: an ML-KEM-768 encapsulation to one of the receiver's offers."""

    offer_id: Count
    ciphertext: KemCiphertext


class KemOffer(msgspec.Struct, array_like=True, frozen=True):
    """A fresh ML-KEM-768 public key the peer may encapsulate to, once."""

    offer_id: Count
    public_key: KemPublicKey


class Header(msgspec.Struct, array_like=True, frozen=True):
    channel_id: Id16
    sender: Id16
    receiver: Id16
    seq: Annotated[int, msgspec.Meta(ge=1, le=2**62)]
    item_type: TypeName
    epoch: Count
    renewal: KemRenewal | None
    nonce: Nonce


class _Wire(msgspec.Struct, array_like=True, frozen=True):
    header: Header
    body: bytes


class Inner(msgspec.Struct, array_like=True, frozen=True):
    """The Olm plaintext: header digest, transcript links, an optional KEM offer, the item."""

    header_digest: Hash
    prev_hash: Hash
    peer_seq: Count
    peer_hash: Hash
    offer: KemOffer | None
    item: bytes


class DeliveryAck(msgspec.Struct, array_like=True, frozen=True):
    """Cumulative: the receiver processed the sender's envelopes up to ``seq``."""

    channel_id: Id16
    sender: Id16
    receiver: Id16
    seq: Count
    head: Hash
    tag: Hash


_PREFIX = MAGIC + bytes([VERSION])
_ACK_PREFIX = ACK_MAGIC + bytes([VERSION])


def associated_data(header: Header) -> bytes:
    return _PREFIX + encode(header)


def encode_envelope(header: Header, body: bytes) -> bytes:
    return _PREFIX + encode(_Wire(header, body))


def _check_prefix(data: bytes, magic: bytes, limit: int, what: str) -> None:
    if len(data) > limit:
        raise RemoteProtocolError(f"{what} is {len(data)} bytes, more than the limit of {limit}")
    if len(data) < 3 or data[:2] != magic:
        raise RemoteProtocolError(f"not a backchannel {what}")
    if data[2] != VERSION:
        raise RemoteProtocolError(
            f"unsupported protocol version {data[2]} (this station reads 1 and 2)"
        )


def parse_envelope(data: bytes) -> tuple[Header, bytes]:
    """Split an envelope into its header and body; refuse anything malformed."""
    _check_prefix(data, MAGIC, MAX_ENVELOPE_BYTES, "envelope")
    wire = decode(
        memoryview(data)[3:], _Wire, limit=MAX_ENVELOPE_BYTES, what="envelope", canonical=False
    )
    # Canonical without re-encoding the body: the header must re-encode to the bytes
    # received and the body's length prefix must be the shortest (0x92 = 2-array).
    header = encode(wire.header)
    expected = 4 + len(header) + bin_header_bytes(len(wire.body)) + len(wire.body)
    if data[3] != 0x92 or data[4 : 4 + len(header)] != header or len(data) != expected:
        raise RemoteProtocolError("envelope is not canonically encoded")
    return wire.header, wire.body


def envelope_hash(data: bytes) -> bytes:
    """The transcript hash of one envelope, over its exact bytes."""
    return hash_bytes("envelope", data)


def genesis_hash(channel_id: bytes, sender: bytes) -> bytes:
    """What the first envelope of a chain names as its predecessor."""
    return digest("genesis", channel_id, sender)


def encode_ack(ack: DeliveryAck) -> bytes:
    return _ACK_PREFIX + encode(ack)


def parse_ack(data: bytes) -> DeliveryAck:
    _check_prefix(data, ACK_MAGIC, MAX_ACK_BYTES, "acknowledgement")
    return decode(data[3:], DeliveryAck, limit=MAX_ACK_BYTES, what="acknowledgement")
