"""Witnessed audit heads: the counterpart keeps our audit trail's heads and gives them back.

A station sends the head of its audit trail (a position and the link there) to its
counterpart as an ``audit-head`` item, inside the channel.  The counterpart keeps the
first head it received at each position.  To check that its own trail was not
rewritten or cut, a station asks for them back: a ``WitnessQuery`` (the heads after
a position) answered by a ``WitnessPage`` (up to ``PAGE_HEADS`` of them, and whether
there are more), both sealed under the sending side's control key like the
acknowledgements, so only the channel's two stations read or make them and neither
can be reflected to its sender.  The answer carries the query's nonce: an old answer
cannot pass for a new one.

Layout: ``BW 02 | channel_id(16) | nonce(12) | AEAD(u32 len | msgpack | zeros)``, the
clear part as associated data, padded to a Padmé bucket (so a page's size says
roughly how many heads it holds, never which).
"""

from __future__ import annotations

import struct
from typing import Annotated, Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .encoding import decode, encode
from .errors import AuthenticationFailed, RemoteProtocolError
from .padding import bucket
from .wire import Count, Hash

WITNESS_PREFIX = b"BW\x02"
PAGE_HEADS = 512
NONCE_BYTES, TAG_BYTES = 12, 16
CLEAR_BYTES = len(WITNESS_PREFIX) + 16 + NONCE_BYTES
MAX_WITNESS_BYTES = 64 * 1024  # a full page is about 21 KB sealed
_LENGTH = struct.Struct(">I")
QueryNonce = Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]


class WitnessQuery(msgspec.Struct, array_like=True, frozen=True, tag="query"):
    """Which of our heads the counterpart should give back: those after ``after``."""

    nonce: QueryNonce
    after: Count


class WitnessPage(msgspec.Struct, array_like=True, frozen=True, tag="page"):
    """Heads the counterpart holds for us, by position, and whether more follow."""

    nonce: QueryNonce  # the query's
    heads: Annotated[tuple[tuple[Count, Hash], ...], msgspec.Meta(max_length=PAGE_HEADS)]
    more: bool

    def check(self) -> None:
        positions = [position for position, _link in self.heads]
        if positions != sorted(set(positions)):
            raise RemoteProtocolError("the witnessed heads are not in order of position")


Message = WitnessQuery | WitnessPage


def channel_of(data: bytes) -> bytes:
    """The channel a sealed witness message is for (to find the key that opens it)."""
    if len(data) < CLEAR_BYTES + TAG_BYTES or data[:3] != WITNESS_PREFIX:
        raise RemoteProtocolError("not a backchannel witness message")
    return data[3:19]


def seal(key: ChaCha20Poly1305, channel_id: bytes, nonce: bytes, message: Message) -> bytes:
    encoded = encode(message)
    body = _LENGTH.size + len(encoded)
    plain_size = bucket(CLEAR_BYTES + body + TAG_BYTES) - CLEAR_BYTES - TAG_BYTES
    plain = _LENGTH.pack(len(encoded)) + encoded + bytes(plain_size - body)
    clear = WITNESS_PREFIX + channel_id + nonce
    return clear + key.encrypt(nonce, plain, clear)


def open_message(key: ChaCha20Poly1305, data: bytes, kind: type[Message]) -> Message:
    """The message inside, if ``key`` opens it and it is of ``kind``."""
    if len(data) > MAX_WITNESS_BYTES:
        raise RemoteProtocolError(f"a witness message is at most {MAX_WITNESS_BYTES} bytes")
    channel_of(data)
    clear, nonce = data[:CLEAR_BYTES], data[CLEAR_BYTES - NONCE_BYTES : CLEAR_BYTES]
    try:
        plain = key.decrypt(nonce, data[CLEAR_BYTES:], clear)
    except InvalidTag:
        raise AuthenticationFailed from None
    return read_plain(plain, kind)


def read_plain(plain: bytes, kind: type[Message]) -> Message:
    """The message in an opened plaintext (length, msgpack, zeros), if it is of ``kind``."""
    if len(plain) < _LENGTH.size:
        raise RemoteProtocolError("malformed witness message")
    (length,) = _LENGTH.unpack_from(plain)
    rest = plain[_LENGTH.size :]
    if length > len(rest) or any(rest[length:]):
        raise RemoteProtocolError("malformed witness message")
    schema: Any = Message  # a union of tagged structs: msgspec tells them apart
    message: Message = decode(
        rest[:length], schema, limit=MAX_WITNESS_BYTES, what="witness message"
    )
    if not isinstance(message, kind):
        raise RemoteProtocolError("not the witness message expected here")
    if isinstance(message, WitnessPage):
        message.check()
    return message
