"""Canonical MessagePack encoding with a strict, bounded decoder.

Every structure on the wire is a ``msgspec.Struct`` encoded as a MessagePack
array.  Decoding is typed (so nesting can go no deeper than the schema allows),
size-capped before any parsing, and canonical: the decoded value must encode back
to exactly the bytes received, so one value has exactly one encoding and hashes
of encodings are well defined.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from .errors import ProtocolError, RemoteProtocolError

T = TypeVar("T")

_ENCODER = msgspec.msgpack.Encoder()


def encode(value: Any) -> bytes:
    """Encode ``value`` canonically."""
    return _ENCODER.encode(value)


_DECODERS: dict[Any, msgspec.msgpack.Decoder[Any]] = {}


def _decoder(schema: Any) -> msgspec.msgpack.Decoder[Any]:
    decoder = _DECODERS.get(schema)
    if decoder is None:
        decoder = _DECODERS[schema] = msgspec.msgpack.Decoder(schema)
    return decoder


def decode(
    data: bytes | memoryview,
    schema: type[T],
    *,
    limit: int,
    what: str,
    error: type[ProtocolError] = RemoteProtocolError,
    canonical: bool = True,
) -> T:
    """Decode ``data`` as ``schema``; refuse oversize, malformed or non-canonical input.

    ``canonical=False`` is for bytes the caller checks another way, or that were
    authenticated by the peer's keys and are never hashed (re-encoding costs time).
    """
    if len(data) > limit:
        raise error(f"{what} is {len(data)} bytes, more than the limit of {limit}")
    try:
        value: T = _decoder(schema).decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise error(f"malformed {what}: {exc}") from None
    except UnicodeDecodeError:
        raise error(f"malformed {what}: a text field is not valid UTF-8") from None
    if canonical and encode(value) != data:
        raise error(f"{what} is not canonically encoded")
    return value


def bin_header_bytes(length: int) -> int:
    """Bytes of the MessagePack header a canonical encoder puts before ``length`` bytes."""
    return 2 if length < 1 << 8 else 3 if length < 1 << 16 else 5
