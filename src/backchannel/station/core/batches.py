"""Batches of envelopes between stations: one request, one transaction, one ack.

A batch is a MessagePack array of envelopes (each already a complete envelope) of one
channel, oldest first, framed and padded to a size bucket (``protocol/envelope.py``):
its size says as little as an envelope's.  A bare array (before version 2) still
reads.  The receiver processes them in order in one transaction and answers with one
cumulative ack, so a backlog drains at the speed of the disk's commits rather than
one commit per item.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from backchannel.protocol.encoding import decode, encode
from backchannel.protocol.envelope import BATCH_PREFIX, pad_batch, unpad_batch
from backchannel.protocol.wire import MAX_ENVELOPE_BYTES

MAX_BATCH_ITEMS = 64
MAX_BATCH_BYTES = 4 * 1024 * 1024

Batch = Annotated[
    list[Annotated[bytes, msgspec.Meta(max_length=MAX_ENVELOPE_BYTES)]],
    msgspec.Meta(min_length=1, max_length=MAX_BATCH_ITEMS),
]


def encode_batch(envelopes: list[bytes]) -> bytes:
    return pad_batch(encode(envelopes), MAX_BATCH_BYTES)


def decode_batch(data: bytes) -> list[bytes]:
    array = unpad_batch(data) if data[:3] == BATCH_PREFIX else data
    batch: list[bytes] = decode(array, Batch, limit=MAX_BATCH_BYTES, what="batch")
    return batch


def take_batch(envelopes: list[bytes]) -> list[bytes]:
    """The longest prefix of ``envelopes`` that fits in one batch."""
    batch: list[bytes] = []
    size = 16
    for envelope in envelopes[:MAX_BATCH_ITEMS]:
        size += len(envelope) + 8
        if batch and size > MAX_BATCH_BYTES:
            break
        batch.append(envelope)
    return batch
