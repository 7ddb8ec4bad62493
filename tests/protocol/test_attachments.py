"""Attachment references and sealed chunks (protocol/attachments.py)."""

from __future__ import annotations

import hashlib
import os

import msgspec
import pytest

from backchannel.protocol import attachments as att
from backchannel.protocol.errors import (
    AuthenticationFailed,
    LocalProtocolError,
    RemoteProtocolError,
)


def file_of(size: int) -> tuple[bytes, att.AttachmentRef]:
    data = os.urandom(size)
    return data, att.new_ref("memo.pdf", "application/pdf", hashlib.sha256(data).digest(), size)


def chunks_of(data: bytes, ref: att.AttachmentRef) -> list[bytes]:
    step = att.CHUNK_BYTES
    return [att.seal_chunk(ref, i, data[i * step : (i + 1) * step]) for i in range(ref.chunks)]


def assembled(ref: att.AttachmentRef, sealed: list[bytes]) -> bytes:
    assembly = att.Assembly(ref)
    data = b"".join(assembly.add(i, chunk) for i, chunk in enumerate(sealed))
    assembly.finish()
    return data


@pytest.mark.parametrize("size", [1, att.CHUNK_BYTES, att.CHUNK_BYTES + 1, 3 * att.CHUNK_BYTES - 7])
def test_a_file_goes_through_in_chunks_and_comes_back_whole(size: int) -> None:
    data, ref = file_of(size)
    sealed = chunks_of(data, ref)
    assert len(sealed) == att.chunk_count(size) == -(-size // att.CHUNK_BYTES)
    assert assembled(ref, sealed) == data
    # Sealed again (a restart): another nonce, the same bytes inside.
    again = chunks_of(data, ref)
    assert again[0] != sealed[0] and assembled(ref, again) == data


def test_the_reference_decodes_as_it_was_encoded() -> None:
    _, ref = file_of(10)
    back = msgspec.msgpack.decode(msgspec.msgpack.encode(ref), type=att.AttachmentRef)
    assert back == ref


def test_a_chunk_tampered_moved_or_from_another_attachment_is_refused() -> None:
    data, ref = file_of(2 * att.CHUNK_BYTES + 5)
    sealed = chunks_of(data, ref)
    tampered = bytearray(sealed[1])
    tampered[40] ^= 1
    with pytest.raises(AuthenticationFailed):
        att.open_chunk(ref, 1, bytes(tampered))
    with pytest.raises(AuthenticationFailed):  # chunk 0 where chunk 1 belongs (same size)
        att.open_chunk(ref, 1, sealed[0])
    other_data, other = file_of(2 * att.CHUNK_BYTES + 5)
    with pytest.raises(AuthenticationFailed):  # another attachment's chunk, another key
        att.open_chunk(ref, 0, chunks_of(other_data, other)[0])
    same_key = msgspec.structs.replace(other, key=ref.key)  # even under the same key
    with pytest.raises(AuthenticationFailed):
        att.open_chunk(same_key, 0, sealed[0])
    assembly = att.Assembly(ref)
    with pytest.raises(RemoteProtocolError, match="chunk 1 came where chunk 0 belongs"):
        assembly.add(1, sealed[1])
    assembly.add(0, sealed[0])
    with pytest.raises(RemoteProtocolError, match="chunk 0 came where chunk 1 belongs"):
        assembly.add(0, sealed[0])  # a replay


def test_a_file_cut_short_or_not_the_named_one_is_refused() -> None:
    data, ref = file_of(att.CHUNK_BYTES + 100)
    sealed = chunks_of(data, ref)
    assembly = att.Assembly(ref)
    assembly.add(0, sealed[0])
    with pytest.raises(RemoteProtocolError, match="1 of its 2 chunks"):
        assembly.finish()
    # A shorter reference of the same digest: the count in the associated data differs.
    short = msgspec.structs.replace(ref, size=att.CHUNK_BYTES)
    with pytest.raises(AuthenticationFailed):
        att.open_chunk(short, 0, sealed[0])
    # A sender that seals other bytes than the file it named: the digest tells.
    lying = msgspec.structs.replace(ref, digest=hashlib.sha256(b"another file").digest())
    liar = [att.seal_chunk(lying, 0, data[: att.CHUNK_BYTES]),
            att.seal_chunk(lying, 1, data[att.CHUNK_BYTES :])]  # fmt: skip
    with pytest.raises(AuthenticationFailed):
        assembled(lying, liar)
    with pytest.raises(RemoteProtocolError, match="is not"):
        att.open_chunk(ref, 1, sealed[1][:-1])  # a truncated chunk
    with pytest.raises(RemoteProtocolError, match="not one of"):
        att.open_chunk(ref, 2, sealed[1])
    with pytest.raises(LocalProtocolError, match="must hold"):
        att.seal_chunk(ref, 1, data[:10])


@pytest.mark.parametrize(
    ("name", "media_type", "size", "error"),
    [
        ("../../etc/passwd", "text/plain", 1, "without '/'"),
        ("a\\b.pdf", "application/pdf", 1, "without '/'"),
        ("memo\x00.pdf", "application/pdf", 1, "printable"),
        ("x" * 500, "application/pdf", 1, "1 to 255 characters"),
        ("", "application/pdf", 1, "1 to 255 characters"),
        ("..", "application/pdf", 1, "not '.' or '..'"),
        ("line\nbreak.txt", "text/plain", 1, "printable"),
        ("memo.pdf", "application", 1, "type/subtype"),
        ("memo.pdf", "Application/PDF", 1, "type/subtype"),
        ("memo.pdf", "application/pdf", 0, "1 byte to"),
        ("memo.pdf", "application/pdf", att.MAX_ATTACHMENT_BYTES + 1, "1 byte to"),
    ],
)
def test_bad_references_are_refused_in_one_line(
    name: str, media_type: str, size: int, error: str
) -> None:
    with pytest.raises(LocalProtocolError, match=error):
        att.new_ref(name, media_type, bytes(32), size)
    ref = att.AttachmentRef(name, media_type, size, bytes(32), bytes(32))
    with pytest.raises(ValueError, match=error):
        att.check_refs((ref,))


def test_an_item_carries_a_bounded_set_of_attachments_each_with_its_own_key() -> None:
    refs = tuple(file_of(1)[1] for _ in range(att.MAX_ATTACHMENTS))
    att.check_refs(refs)
    with pytest.raises(ValueError, match="at most 16"):
        att.check_refs((*refs, file_of(1)[1]))
    with pytest.raises(ValueError, match="share a key"):
        att.check_refs((refs[0], msgspec.structs.replace(refs[1], key=refs[0].key)))
    with pytest.raises(msgspec.ValidationError):  # a key of the wrong length never decodes
        msgspec.msgpack.decode(
            msgspec.msgpack.encode(["a", "text/plain", 1, bytes(32), bytes(31)]),
            type=att.AttachmentRef,
        )
