"""Attachments at a station: files staged to send, files received, their chunks.

Ours: an officer stages a file (``begin``, then ``put`` each chunk in order); the
first chunk decides its media type (``media.py``) against the allowed list, the last
one checks its SHA-256 against the one given at ``begin``; it is then ``staged``.  A
document item names staged files; recording it binds them to the item (``sending``)
in the same transaction, and the pusher (``transfer.py``) sends the chunks once the
item is delivered, until the peer holds them all (``sent``).

Theirs: recording a received document makes one row per file (``receiving``), or
``refused`` when it breaks this station's limits (size, quota, type); ``take_chunk``
takes the peer's chunks in order, each opened (authenticated) before it is kept, and
the last one checks the digest: ``complete``, and only then may anyone download it.

Every chunk is kept as it travels, sealed under the attachment's key; the key is in
the reference, sealed with the station key (``store/attachments.py``).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from backchannel.protocol import RemoteProtocolError
from backchannel.protocol.attachments import (
    CHUNK_BYTES,
    AttachmentRef,
    Document,
    check_file_name,
    chunk_size,
    new_ref,
    open_chunk,
    seal_chunk,
)
from backchannel.protocol.encoding import decode, encode
from backchannel.station.attachments.media import detect
from backchannel.station.core.errors import ChannelNotFound, InvalidRequest, StationError
from backchannel.station.core.hooks import Recorded
from backchannel.station.core.ledger import Ledger
from backchannel.store import repository as repo
from backchannel.store.attachments import AttachmentChunkRow, AttachmentRow

CHUNK_PATH = "/peer/v1/chunk"
TRANSFER_ID_BYTES = 32
CHUNK_HEADER_BYTES = TRANSFER_ID_BYTES + 4  # transfer id | index (u32, big-endian)
NO_UPLOAD = "no upload of yours has that id"
NO_TRANSFER = "no attachment with that transfer id is expected here"
OURS = ("staged", "sending", "sent")
STALE_UPLOAD_SECONDS = 24 * 3600  # an upload not sent within a day is dropped


@dataclass(frozen=True)
class Upload:
    """Where a staged file stands, as its uploader sees it."""

    upload_id: str
    name: str
    media_type: str
    size: int
    chunks: int
    held: int
    state: str


@dataclass(frozen=True)
class Held:
    """One attachment of an item at this station: its reference, and how much is here."""

    ref: AttachmentRef
    attachment_id: str
    state: str
    held: int
    detail: str

    @property
    def ready(self) -> bool:
        return self.state in ("complete", *OURS)

    def why_not(self) -> str:
        if self.state == "refused":
            return f"the file was refused here: {self.detail}"
        return f"the file is not here yet: {self.held} of {self.ref.chunks} chunks received"


def _ref_of(row: AttachmentRow) -> AttachmentRef:
    return decode(row.ref, AttachmentRef, limit=1024, what="attachment", canonical=False)


class Attachments:
    def __init__(self, station: Ledger) -> None:
        self.station = station
        self.wake = threading.Event()  # set when a file may be ready to push
        # The running SHA-256 of each transfer being written by this process, so the
        # last chunk need not read the file back (after a restart it does).
        self._hashing: dict[str, tuple[int, hashlib._Hash]] = {}
        self._lock = threading.Lock()

    @property
    def limits(self):  # type: ignore[no-untyped-def]
        return self.station.config.attachments

    # -- ours: staging -------------------------------------------------------------

    def begin(self, officer: str, name: str, size: int, digest: bytes) -> Upload:
        """Start staging a file of ``size`` bytes whose SHA-256 is ``digest``."""
        try:
            check_file_name(name)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        if not 1 <= size <= self.limits.max_file_bytes:
            raise InvalidRequest(
                f"a file is 1 byte to {_mib(self.limits.max_file_bytes)} at this station"
            )
        if len(digest) != 32:
            raise InvalidRequest("the digest is the file's SHA-256: 64 hex digits")
        ref = new_ref(name, "application/octet-stream", digest, size)
        now = self.station.clock()
        row = AttachmentRow(
            attachment_id=secrets.token_hex(16), transfer_id=ref.transfer_id, direction="out",
            state="uploading", ref=encode(ref), staged_by=officer, size=size,
            chunks=ref.chunks, created_at=now, updated_at=now,
        )  # fmt: skip
        with self.station.db.transaction() as s:
            s.add(row)
        return _upload(row, ref)

    def put(self, officer: str, upload_id: str, index: int, data: bytes) -> Upload:
        """Take chunk ``index`` of an upload (in order; one already taken is ignored).

        A file whose first chunk is of a type this station does not send, or whose bytes
        do not match the digest, is refused and everything of it dropped."""
        try:
            return self._put(officer, upload_id, index, data)
        except _Dropped as exc:
            self._drop(upload_id)
            raise InvalidRequest(str(exc)) from None

    def _put(self, officer: str, upload_id: str, index: int, data: bytes) -> Upload:
        with self.station.db.transaction() as s:
            row = self._upload_row(s, officer, upload_id)
            ref = _ref_of(row)
            if row.state != "uploading" or index < row.held:
                return _upload(row, ref)
            if index != row.held:
                raise InvalidRequest(f"send chunk {row.held} first (chunks go in order)")
            if not 0 <= index < ref.chunks or len(data) != chunk_size(ref, index):
                raise InvalidRequest(
                    f"chunk {index} of this file is {chunk_size(ref, min(index, ref.chunks - 1))} "
                    "bytes"
                )
            if index == 0:
                ref = self._typed(row, ref, data)
            s.add(AttachmentChunkRow(attachment_id=row.attachment_id, idx=index,
                                     sealed=seal_chunk(ref, index, data)))  # fmt: skip
            self._hash(row.attachment_id, index, data)
            row.held, row.updated_at = index + 1, self.station.clock()
            if row.held == row.chunks:
                self._check_digest(s, row, ref, theirs=False)
                row.state = "staged"
            return _upload(row, ref)

    def stage_file(self, officer: str, name: str, path: str) -> Upload:
        """Stage a file from the host's disk (the CLI): its digest, then its chunks."""
        digest, size = hashlib.sha256(), 0
        with open(path, "rb") as handle:
            while piece := handle.read(CHUNK_BYTES):
                digest.update(piece)
                size += len(piece)
        upload = self.begin(officer, name, size, digest.digest())
        with open(path, "rb") as handle:
            for index in range(upload.chunks):
                upload = self.put(officer, upload.upload_id, index, handle.read(CHUNK_BYTES))
        if upload.state != "staged":
            raise StationError(f"{name} changed while it was read; nothing was staged")
        return upload

    def staged(self, officer: str, upload_ids: tuple[str, ...]) -> tuple[AttachmentRef, ...]:
        """The references of staged files of this officer, to name in a document."""
        if len(set(upload_ids)) != len(upload_ids):
            raise InvalidRequest("a file is attached once")
        with self.station.db.reading() as s:
            rows = [self._upload_row(s, officer, u) for u in upload_ids]
        for row in rows:
            if row.state != "staged":
                raise InvalidRequest(
                    f"upload {row.attachment_id} is {row.state}, not ready to send"
                )
        if sum(r.size for r in rows) > self.limits.max_item_bytes:
            raise InvalidRequest(
                f"the files of one item are at most {_mib(self.limits.max_item_bytes)} together"
            )
        return tuple(_ref_of(r) for r in rows)

    def _upload_row(self, s: Session, officer: str, upload_id: str) -> AttachmentRow:
        row = s.get(AttachmentRow, upload_id) if len(upload_id) == 32 else None
        if row is None or row.direction != "out" or row.staged_by != officer:
            raise ChannelNotFound(NO_UPLOAD)
        return row

    def _typed(self, row: AttachmentRow, ref: AttachmentRef, head: bytes) -> AttachmentRef:
        media_type = detect(head, ref.name)
        if media_type not in self.limits.allowed_types:
            raise _Dropped(
                f"{ref.name[:60]!r} is {media_type} by its content, not one of the "
                f"{len(self.limits.allowed_types)} types this station sends (its settings: "
                f"attachments.allowed_types)"
            )
        ref = msgspec.structs.replace(ref, media_type=media_type)
        row.ref = encode(ref)
        return ref

    # -- the items that carry them -----------------------------------------------------

    def recorded(self, r: Recorded) -> None:
        """A document was recorded: bind our staged files to it, or expect theirs."""
        item = r.link.item
        assert isinstance(item, Document)
        item_hash = r.link.envelope_hash.hex()
        if r.direction == "out":
            for position, ref in enumerate(item.attachments):
                row = _by_transfer(r.s, ref.transfer_id)
                if row is None or row.state != "staged":
                    raise InvalidRequest(f"{ref.name[:60]!r} is not a staged file of this station")
                row.channel_id, row.item_hash, row.position = r.channel_id, item_hash, position
                row.state, row.updated_at = "sending", r.now
            self.wake.set()
            return
        taken = 0
        for position, ref in enumerate(item.attachments):
            refusal = self._refusal(r.s, r.channel_id, ref, taken)
            taken += ref.size if not refusal else 0
            reused = _by_transfer(r.s, ref.transfer_id) is not None
            r.s.add(AttachmentRow(
                attachment_id=secrets.token_hex(16),
                # A key the peer used twice matches no chunk: the transfer id is random.
                transfer_id=secrets.token_bytes(32) if reused else ref.transfer_id,
                direction="in", state="refused" if refusal or reused else "receiving",
                channel_id=r.channel_id, item_hash=item_hash, position=position,
                ref=encode(ref), size=ref.size, chunks=ref.chunks,
                detail=refusal or ("the sender reused a key" if reused else ""),
                created_at=r.now, updated_at=r.now,
            ))  # fmt: skip

    def _refusal(self, s: Session, channel_id: str, ref: AttachmentRef, taken: int) -> str:
        """Why this station does not take a file the peer sends, or ""."""
        limits = self.limits
        if ref.size > limits.max_file_bytes:
            return f"larger than this station's limit of {_mib(limits.max_file_bytes)}"
        if ref.media_type not in limits.allowed_types:
            return f"{ref.media_type} is not a type this station takes"
        if taken + ref.size > limits.max_item_bytes:
            return f"the item's files pass this station's limit of {_mib(limits.max_item_bytes)}"
        used = s.scalar(
            select(func.coalesce(func.sum(AttachmentRow.size), 0)).where(
                AttachmentRow.channel_id == channel_id,
                AttachmentRow.direction == "in",
                AttachmentRow.state != "refused",
            )
        )
        if int(used or 0) + taken + ref.size > limits.channel_quota_bytes:
            return f"the channel's quota of {_mib(limits.channel_quota_bytes)} is used up"
        return ""

    def of_item(self, s: Session, item: Document) -> list[Held]:
        """Each attachment of a document as this station holds it."""
        found = []
        for ref in item.attachments:
            row = _by_transfer(s, ref.transfer_id)
            if row is None:  # refused as a reused key: matched by its item instead
                found.append(Held(ref, "", "refused", 0, "the sender reused a key"))
                continue
            found.append(Held(ref, row.attachment_id, row.state, row.held, row.detail))
        return found

    # -- theirs: the chunks the peer sends -------------------------------------------

    def take_chunk(self, data: bytes) -> bytes:
        """Keep one chunk the peer sent; the answer says how many chunks are here.

        The chunk is opened under its attachment's key before anything is kept: one
        tampered with, out of place or of another file is refused and changes nothing.
        The first chunk's content must be of the media type the item names (found by
        libmagic here too: the sender's word is not taken), or the file is refused."""
        if len(data) <= CHUNK_HEADER_BYTES:
            raise RemoteProtocolError("a chunk is a transfer id, an index and sealed bytes")
        transfer_id, sealed = data[:TRANSFER_ID_BYTES], data[CHUNK_HEADER_BYTES:]
        index = int.from_bytes(data[TRANSFER_ID_BYTES:CHUNK_HEADER_BYTES], "big")
        with self.station.db.transaction() as s:
            row = _by_transfer(s, transfer_id)
            if row is None or row.direction != "in":
                raise ChannelNotFound(NO_TRANSFER)
            if row.state == "refused":
                raise InvalidRequest("this station refused the file")
            if row.state == "receiving" and index == row.held:
                ref = _ref_of(row)
                plain = open_chunk(ref, index, sealed)  # raises unless it is that chunk
                if index == 0 and (found := detect(plain, ref.name)) != ref.media_type:
                    row.state, row.updated_at = "refused", self.station.clock()
                    row.detail = f"its content is {found}, not the {ref.media_type} it was sent as"
                    return encode([row.held, row.state])
                s.add(AttachmentChunkRow(attachment_id=row.attachment_id, idx=index,
                                         sealed=sealed))  # fmt: skip
                self._hash(row.attachment_id, index, plain)
                row.held, row.updated_at = index + 1, self.station.clock()
                if row.held == row.chunks:
                    self._check_digest(s, row, ref, theirs=True)
            return encode([row.held, row.state])

    def _hash(self, attachment_id: str, index: int, data: bytes) -> None:
        with self._lock:
            at, running = self._hashing.get(attachment_id, (0, hashlib.sha256()))
            if at == index:
                running.update(data)
                self._hashing[attachment_id] = (index + 1, running)
            else:
                self._hashing.pop(attachment_id, None)  # a restart: read it back at the end

    def _check_digest(
        self, s: Session, row: AttachmentRow, ref: AttachmentRef, theirs: bool
    ) -> None:
        """At the last chunk: the bytes are the file the reference names, or they go."""
        with self._lock:
            at, running = self._hashing.pop(row.attachment_id, (0, hashlib.sha256()))
        if at != row.chunks:  # written across a restart: read it back
            running = hashlib.sha256()
            for index, sealed in enumerate(self._sealed(s, row.attachment_id, 0, row.chunks)):
                running.update(open_chunk(ref, index, sealed))
        if running.digest() == ref.digest:
            if theirs:
                row.state = "complete"
            return
        if not theirs:
            raise _Dropped("the file's bytes do not match the SHA-256 given for it")
        _drop_chunks(s, row.attachment_id)
        row.state, row.held, row.detail = "refused", 0, "its bytes do not match its digest"

    @staticmethod
    def _sealed(s: Session, attachment_id: str, start: int, stop: int) -> list[bytes]:
        return list(
            s.scalars(
                select(AttachmentChunkRow.sealed)
                .where(
                    AttachmentChunkRow.attachment_id == attachment_id,
                    AttachmentChunkRow.idx >= start,
                    AttachmentChunkRow.idx < stop,
                )
                .order_by(AttachmentChunkRow.idx)
            )
        )

    def _drop(self, upload_id: str) -> None:
        with self._lock:
            self._hashing.pop(upload_id, None)
        with self.station.db.transaction() as s:
            row = s.get(AttachmentRow, upload_id)
            if row is not None and row.state == "uploading":
                _drop_chunks(s, upload_id)
                s.delete(row)

    # -- reading and pushing -------------------------------------------------------

    def readable(
        self, channel_id: str | None = None, item_hash: str = "", position: int | None = None
    ) -> list[tuple[str, Held]]:
        """Files held here whole and sent or received with an item (optionally one), as
        ``(<channel>/<item hash>/attachment-<n>, held)``: what the leak index reads."""
        query = select(AttachmentRow).where(
            AttachmentRow.state.in_(("complete", *OURS)), AttachmentRow.channel_id.is_not(None)
        )
        if channel_id is not None:
            query = query.where(
                AttachmentRow.channel_id == channel_id,
                AttachmentRow.item_hash == item_hash,
                AttachmentRow.position == position,
            )
        with self.station.db.reading() as s:
            return [
                (
                    f"{row.channel_id}/{row.item_hash}/attachment-{row.position}",
                    Held(_ref_of(row), row.attachment_id, row.state, row.held, row.detail),
                )
                for row in s.scalars(query.order_by(AttachmentRow.created_at))
            ]

    def plaintext(self, held: Held) -> Iterator[bytes]:
        """The file's bytes, chunk by chunk, each opened as it is read (downloads)."""
        for index in range(held.ref.chunks):
            with self.station.db.reading() as s:
                (sealed,) = self._sealed(s, held.attachment_id, index, index + 1)
            yield open_chunk(held.ref, index, sealed)

    def to_push(self) -> list[tuple[str, str, str]]:
        """Our files whose item the peer has, oldest first: (attachment id, channel id,
        the peer's chunk endpoint)."""
        with self.station.db.reading() as s:
            rows = s.execute(
                select(
                    AttachmentRow.attachment_id, AttachmentRow.channel_id, AttachmentRow.item_hash
                )
                .where(AttachmentRow.direction == "out", AttachmentRow.state == "sending")
                .order_by(AttachmentRow.created_at)
            ).all()
            ready = []
            for attachment_id, channel_id, item_hash in rows:
                assert channel_id is not None  # a file is sending once its item is recorded
                entry = repo.entry_row(s, channel_id, bytes.fromhex(item_hash))
                peer = repo.peer_endpoint(s, channel_id)
                if entry is not None and peer and repo.delivered(s, channel_id, entry.seq):
                    ready.append((attachment_id, channel_id, peer.rstrip("/") + CHUNK_PATH))
            return ready

    def next_chunk(self, attachment_id: str) -> bytes | None:
        """The body of the next chunk to post (transfer id | index | sealed), or None."""
        with self.station.db.reading() as s:
            row = s.get(AttachmentRow, attachment_id)
            if row is None or row.state != "sending" or row.peer_held >= row.chunks:
                return None
            (sealed,) = self._sealed(s, attachment_id, row.peer_held, row.peer_held + 1)
            return row.transfer_id + row.peer_held.to_bytes(4, "big") + sealed

    def chunk_body(self, attachment_id: str, transfer_id: bytes, index: int) -> bytes | None:
        """The body of chunk ``index`` (within a turn, which knows the transfer): one query."""
        with self.station.db.reading() as s:
            sealed = self._sealed(s, attachment_id, index, index + 1)
        return transfer_id + index.to_bytes(4, "big") + sealed[0] if sealed else None

    def peer_holds(self, attachment_id: str, held: int) -> bool:
        """Record what the peer said it holds; True once it holds the whole file."""
        with self.station.db.transaction(durable=False) as s:
            row = s.get(AttachmentRow, attachment_id)
            if row is None or row.state != "sending":
                return True
            row.peer_held, row.updated_at = max(0, min(held, row.chunks)), self.station.clock()
            if row.peer_held == row.chunks:
                row.state = "sent"
            return row.state == "sent"

    def peer_refused(self, attachment_id: str, why: str) -> None:
        with self.station.db.transaction() as s:
            row = s.get(AttachmentRow, attachment_id)
            if row is not None and row.state == "sending":
                row.state, row.detail = "refused", why

    def forget(self, s: Session, channel_id: str, hashes: list[bytes]) -> None:
        """Drop the files of documents whose bodies were destroyed: their records and
        chunks (the chunks' key was in the document, so they were unreadable already)."""
        named = [h.hex() for h in hashes]
        rows = s.scalars(
            select(AttachmentRow).where(
                AttachmentRow.channel_id == channel_id, AttachmentRow.item_hash.in_(named)
            )
        ).all()
        for row in rows:
            _drop_chunks(s, row.attachment_id)
            s.delete(row)

    def forget_stale(self, s: Session, now: float) -> None:
        """Drop uploads never sent, untouched for ``STALE_UPLOAD_SECONDS`` (a pass of the
        deadline watch: an officer who staged a file and walked away leaves nothing)."""
        stale = s.scalars(
            select(AttachmentRow).where(
                AttachmentRow.direction == "out",
                AttachmentRow.state.in_(("uploading", "staged")),
                AttachmentRow.updated_at < now - STALE_UPLOAD_SECONDS,
            )
        ).all()
        for row in stale:
            _drop_chunks(s, row.attachment_id)
            with self._lock:
                self._hashing.pop(row.attachment_id, None)
            s.delete(row)


class _Dropped(Exception):
    """An upload refused half-way: everything of it is dropped, then the officer told."""


def _drop_chunks(s: Session, attachment_id: str) -> None:
    s.execute(delete(AttachmentChunkRow).where(AttachmentChunkRow.attachment_id == attachment_id))


def _by_transfer(s: Session, transfer_id: bytes) -> AttachmentRow | None:
    return s.scalars(select(AttachmentRow).where(AttachmentRow.transfer_id == transfer_id)).first()


def _upload(row: AttachmentRow, ref: AttachmentRef) -> Upload:
    return Upload(row.attachment_id, ref.name, ref.media_type, ref.size, ref.chunks,
                  row.held, row.state)  # fmt: skip


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):g} MiB"
