"""Attachments: what an item says of a file, and the file's bytes sealed in chunks.

An item names each of its attachments in an ``AttachmentRef``, inside the encrypted
item: the file's name (metadata only: nothing ever opens a path by it), its media
type, its size, the SHA-256 of its bytes, and a key of its own, random, that only
the two stations learn.  The bytes do not travel in envelopes: they are cut into
chunks of ``CHUNK_BYTES`` (the last one shorter), and each chunk is sealed under the
attachment's key with ChaCha20-Poly1305:

    chunk = "BK" 01 | nonce(12) | AEAD(key, nonce, data, ad)
    ad    = "BK" 01 | digest(32) | index(u32) | count(u32)

so a chunk opens only under its own attachment's key, at its own position, in an
attachment of its own number of chunks: a chunk tampered with, moved, taken from
another attachment or from a copy cut short is refused.  The nonce is random for
every sealing, so sealing the same chunk again (after a restart) never reuses a
nonce under the key, whatever the bytes.  ``Assembly`` takes chunks in order and
checks the size and the digest at the end: a file is whole, and is the file the
item names, before anything shows it.

Why not chunk envelopes on the channel's own path: see docs/attachments.md.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from typing import Annotated, Any, ClassVar

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from .errors import AuthenticationFailed, LocalProtocolError, RemoteProtocolError
from .items import HASH_BYTES, Message, register_earlier_layout, register_item_type
from .kdf import derive_key

CHUNK_PREFIX = b"BK\x01"
CHUNK_BYTES = 1024 * 1024
MAX_ATTACHMENT_BYTES = 1024**3  # the protocol's bound; a station's limit is lower
MAX_ATTACHMENTS = 16  # per item
MAX_FILE_NAME_CHARS = 255
KEY_BYTES, NONCE_BYTES, TAG_BYTES = 32, 12, 16
_AD = struct.Struct(">32sII")
_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}")
_NOT_IN_NAMES = frozenset("/\\\x00")

AttachmentKey = Annotated[bytes, msgspec.Meta(min_length=KEY_BYTES, max_length=KEY_BYTES)]
Digest = Annotated[bytes, msgspec.Meta(min_length=HASH_BYTES, max_length=HASH_BYTES)]


class AttachmentRef(msgspec.Struct, array_like=True, frozen=True):
    """One attachment as its item names it (inside the encryption)."""

    name: str
    media_type: str
    size: int
    digest: Digest
    key: AttachmentKey

    def validate(self) -> None:
        """Raise ValueError unless every field is within its bounds."""
        check_file_name(self.name)
        if not _MEDIA_TYPE.fullmatch(self.media_type):
            raise ValueError(f"media type {self.media_type[:40]!r} is not a type/subtype")
        if not 1 <= self.size <= MAX_ATTACHMENT_BYTES:
            raise ValueError(f"an attachment is 1 byte to {MAX_ATTACHMENT_BYTES} bytes")

    @property
    def chunks(self) -> int:
        return chunk_count(self.size)

    @property
    def transfer_id(self) -> bytes:
        """What the two stations call this attachment's transfer: derived from its key,
        so it names the file to no one else and says nothing of its bytes."""
        return derive_key(self.key, "attachment", "transfer-id")


class Document(Message, frozen=True):
    """A message that carries files: its text, and a reference to each file.

    A type of its own (not a field added to ``Message``), so that the encoding of every
    message stays what it was and a station that does not know attachments refuses the
    item by its type, instead of dropping the files without a word.
    """

    item_type: ClassVar[str] = "document"

    attachments: tuple[AttachmentRef, ...] = ()

    @classmethod
    def of(cls, m: Message, attachments: tuple[AttachmentRef, ...]) -> Document:
        """The message ``m`` with these files."""
        return cls(
            m.text, m.language, m.from_role, m.to_role, m.ack_deadline, m.clearances,
            m.reply_to, m.from_name, m.others, m.authority, attachments,
        )  # fmt: skip

    def validate(self) -> None:
        super().validate()
        if not self.attachments:
            raise ValueError("a document carries at least one attachment")
        check_refs(self.attachments)


register_item_type(Document)


def _document_of_one_language(fields: list[Any]) -> list[Any] | None:
    """A document encoded before messages had other languages: its files were the
    ninth field, where a message's other texts are now."""
    if len(fields) != _FIELDS_BEFORE_LANGUAGES + 1:
        return None
    return [*fields[:-1], [], "", fields[-1]]


_FIELDS_BEFORE_LANGUAGES = len(Message.__struct_fields__) - 2
register_earlier_layout(Document.item_type, _document_of_one_language)


def check_file_name(name: str) -> None:
    """A file name is one printable line, without a path or a NUL; never a path."""
    if not name or len(name) > MAX_FILE_NAME_CHARS:
        raise ValueError(f"a file name is 1 to {MAX_FILE_NAME_CHARS} characters")
    if not name.isprintable() or _NOT_IN_NAMES & set(name) or name in {".", ".."}:
        raise ValueError("a file name is printable, without '/', '\\\\' or NUL, not '.' or '..'")


def check_refs(refs: tuple[AttachmentRef, ...]) -> None:
    """An item's attachments: at most ``MAX_ATTACHMENTS``, each valid, no key twice."""
    if len(refs) > MAX_ATTACHMENTS:
        raise ValueError(f"an item carries at most {MAX_ATTACHMENTS} attachments")
    for ref in refs:
        ref.validate()
    if len({ref.key for ref in refs}) != len(refs):
        raise ValueError("two attachments of an item share a key")


def chunk_count(size: int) -> int:
    return max(1, -(-size // CHUNK_BYTES))


def chunk_size(ref: AttachmentRef, index: int) -> int:
    """How many bytes chunk ``index`` of ``ref`` holds (all but the last are full)."""
    if not 0 <= index < ref.chunks:
        raise RemoteProtocolError(f"chunk {index} is not one of this attachment's {ref.chunks}")
    return CHUNK_BYTES if index < ref.chunks - 1 else ref.size - CHUNK_BYTES * (ref.chunks - 1)


def new_ref(name: str, media_type: str, data_digest: bytes, size: int) -> AttachmentRef:
    """The reference to a file about to be sent, with a fresh random key."""
    ref = AttachmentRef(name, media_type, size, data_digest, os.urandom(KEY_BYTES))
    try:
        ref.validate()
    except ValueError as exc:
        raise LocalProtocolError(str(exc)) from None
    return ref


def _ad(ref: AttachmentRef, index: int) -> bytes:
    return CHUNK_PREFIX + _AD.pack(ref.digest, index, ref.chunks)


def seal_chunk(ref: AttachmentRef, index: int, data: bytes) -> bytes:
    """Chunk ``index`` of the file ``ref`` names, sealed for the peer."""
    if len(data) != chunk_size(ref, index):
        raise LocalProtocolError(f"chunk {index} must hold {chunk_size(ref, index)} bytes")
    nonce = os.urandom(NONCE_BYTES)
    return CHUNK_PREFIX + nonce + ChaCha20Poly1305(ref.key).encrypt(nonce, data, _ad(ref, index))


def open_chunk(ref: AttachmentRef, index: int, sealed: bytes) -> bytes:
    """The bytes of chunk ``index``, if ``sealed`` is that chunk of that attachment."""
    expected = len(CHUNK_PREFIX) + NONCE_BYTES + chunk_size(ref, index) + TAG_BYTES
    if len(sealed) != expected or not sealed.startswith(CHUNK_PREFIX):
        raise RemoteProtocolError(f"chunk {index} is not {expected} bytes of a sealed chunk")
    nonce = sealed[len(CHUNK_PREFIX) : len(CHUNK_PREFIX) + NONCE_BYTES]
    body = sealed[len(CHUNK_PREFIX) + NONCE_BYTES :]
    try:
        return ChaCha20Poly1305(ref.key).decrypt(nonce, body, _ad(ref, index))
    except InvalidTag:
        raise AuthenticationFailed from None


class Assembly:
    """Chunks of one attachment taken in order; ``finish`` checks size and digest."""

    def __init__(self, ref: AttachmentRef) -> None:
        self.ref = ref
        self.next_index = 0
        self._hash = hashlib.sha256()
        self._size = 0

    def add(self, index: int, sealed: bytes) -> bytes:
        """Open the next chunk; returns its bytes (to be kept by the caller)."""
        if index != self.next_index:
            raise RemoteProtocolError(f"chunk {index} came where chunk {self.next_index} belongs")
        data = open_chunk(self.ref, index, sealed)
        self._hash.update(data)
        self._size += len(data)
        self.next_index += 1
        return data

    @property
    def complete(self) -> bool:
        return self.next_index == self.ref.chunks

    def finish(self) -> None:
        """Raise unless every chunk came and the bytes are the ones the item names."""
        if not self.complete or self._size != self.ref.size:
            raise RemoteProtocolError(
                f"the attachment has {self.next_index} of its {self.ref.chunks} chunks"
            )
        if self._hash.digest() != self.ref.digest:
            raise AuthenticationFailed
