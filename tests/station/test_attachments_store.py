"""Attachments inside two stations in one process: staging, binding, the chunk intake.

Delivery is done by hand (``deliver``, ``push``), so each step can be cut, repeated or
tampered with; the same code runs behind the peer endpoint (test_attachments.py has
the two real station processes).  On SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import func, select, text

from backchannel.protocol import AuthenticationFailed, Document, RemoteProtocolError
from backchannel.protocol.attachments import CHUNK_BYTES, AttachmentRef, seal_chunk
from backchannel.protocol.encoding import decode, encode
from backchannel.station.access.door import Door, host
from backchannel.station.attachments.desk import AttachmentDesk
from backchannel.station.core.errors import ChannelNotFound, InvalidRequest
from backchannel.station.service import Station
from backchannel.store.attachments import AttachmentChunkRow, AttachmentRow

from .files import PDF, png
from .test_store import deliver, paired_in_process, postgres_database

HOST = host("host:test")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stations(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Station, Station]]:
    urls = postgres_database() if request.param == "postgresql" else iter([None])
    for url in urls:
        a, b = paired_in_process(tmp_path_factory.mktemp("files"), url)
        yield a, b
        a.close()
        b.close()


def desk(s: Station) -> AttachmentDesk:
    return AttachmentDesk(Door(s), s.attachments)


def staged(s: Station, data: bytes, name: str = "memo.pdf") -> str:
    """Stage ``data`` chunk by chunk, as the web page does; its upload id."""
    d = desk(s)
    upload = d.begin(HOST, name, len(data), hashlib.sha256(data).hexdigest())
    for index in range(upload.chunks):
        upload = d.put(HOST, upload.upload_id, index, data[index * CHUNK_BYTES :][:CHUNK_BYTES])
    assert upload.state == "staged"
    return upload.upload_id


def send(s: Station, *uploads: str) -> str:
    entry = desk(s).send(HOST, s.resolve(None), "test", uploads, text="see attached",
                         to_role="principal", from_role="officer")  # fmt: skip
    return entry.envelope_hash


def push(a: Station, b: Station, stop_after: int | None = None) -> int:
    """What the pusher does, by hand: post each due chunk, record what the peer holds."""
    posted = 0
    for attachment_id, _channel, _url in a.attachments.to_push():
        while (body := a.attachments.next_chunk(attachment_id)) is not None:
            if stop_after is not None and posted == stop_after:
                return posted
            try:
                answer = b.attachments.take_chunk(body)
            except InvalidRequest:  # refused there: the pusher stops sending it
                a.attachments.peer_refused(attachment_id, "the peer refused the file")
                break
            held, _state = msgspec.msgpack.decode(answer)
            posted += 1
            if a.attachments.peer_holds(attachment_id, held):
                break
    return posted


def received_file(b: Station, item_hash: str, position: int = 0) -> bytes:
    return b"".join(desk(b).download(HOST, b.resolve(None), item_hash, position, "test").chunks)


def chunk_rows(s: Station) -> int:
    with s.db.reading() as session:
        return int(session.scalar(select(func.count()).select_from(AttachmentChunkRow)) or 0)


def test_a_file_crosses_whole_and_is_kept_once(stations: tuple[Station, Station]) -> None:
    a, b = stations
    data = PDF + os.urandom(2 * CHUNK_BYTES + 5)
    item_hash = send(a, staged(a, data))
    assert a.attachments.to_push() == []  # the item is not at the peer yet: nothing goes
    deliver(a, b)
    before = chunk_rows(b)
    assert push(a, b) == 3
    assert received_file(b, item_hash) == data
    assert received_file(a, item_hash) == data  # our own copy, from our store
    assert chunk_rows(b) == before + 3
    [entry] = [e for e in b.inbox(None) if e.envelope_hash == item_hash]
    assert isinstance(entry.item, Document) and entry.item.attachments[0].name == "memo.pdf"


def test_a_transfer_cut_short_resumes_where_the_receiver_is(
    stations: tuple[Station, Station],
) -> None:
    a, b = stations
    data = PDF + os.urandom(3 * CHUNK_BYTES)
    item_hash = send(a, staged(a, data))
    deliver(a, b)
    assert push(a, b, stop_after=2) == 2
    with pytest.raises(InvalidRequest, match="2 of 4 chunks received"):
        received_file(b, item_hash)
    # The sender forgets what the peer said (a restore, a lost answer): it sends from
    # chunk 0 again; the peer keeps its copies and answers where it is.
    [attachment_id] = [i for i, _c, _u in a.attachments.to_push()]
    a.attachments.peer_holds(attachment_id, 0)
    before = chunk_rows(b)
    assert push(a, b) == 3  # chunk 0 (answered "2 held"), then 2 and 3
    assert chunk_rows(b) == before + 2
    assert received_file(b, item_hash) == data


def _expected(a: Station, b: Station, data: bytes) -> tuple[str, bytes, object]:
    """A file sent and its item delivered, no chunk pushed: (item, transfer id, ref)."""
    item_hash = send(a, staged(a, data))
    deliver(a, b)
    [entry] = [e for e in b.inbox(None) if e.envelope_hash == item_hash]
    assert isinstance(entry.item, Document)
    ref = entry.item.attachments[0]
    return item_hash, ref.transfer_id, ref


def test_chunks_tampered_moved_replayed_or_foreign_are_refused(
    stations: tuple[Station, Station],
) -> None:
    a, b = stations
    data = PDF + os.urandom(2 * CHUNK_BYTES)
    item_hash, transfer_id, ref = _expected(a, b, data)
    _other_hash, other_id, other_ref = _expected(a, b, PDF + os.urandom(CHUNK_BYTES))
    first = seal_chunk(ref, 0, data[:CHUNK_BYTES])  # type: ignore[arg-type]
    header = transfer_id + (0).to_bytes(4, "big")
    tampered = bytearray(first)
    tampered[40] ^= 1
    before = chunk_rows(b)
    with pytest.raises(AuthenticationFailed):
        b.attachments.take_chunk(header + bytes(tampered))
    other_first = seal_chunk(other_ref, 0, os.urandom(CHUNK_BYTES))  # type: ignore[arg-type]
    with pytest.raises(AuthenticationFailed):  # another file's chunk 0, under our id
        b.attachments.take_chunk(header + other_first)
    with pytest.raises(AuthenticationFailed):  # our chunk 0, under the other file's id
        b.attachments.take_chunk(other_id + (0).to_bytes(4, "big") + first)
    with pytest.raises(ChannelNotFound):
        b.attachments.take_chunk(os.urandom(32) + header[32:] + first)
    with pytest.raises(RemoteProtocolError):
        b.attachments.take_chunk(header[:30])
    assert chunk_rows(b) == before
    assert msgspec.msgpack.decode(b.attachments.take_chunk(header + first)) == [1, "receiving"]
    # Replayed at its own index, or sent ahead of its turn: nothing more is kept.
    assert msgspec.msgpack.decode(b.attachments.take_chunk(header + first)) == [1, "receiving"]
    ahead = seal_chunk(ref, 2, data[2 * CHUNK_BYTES :])  # type: ignore[arg-type]
    assert msgspec.msgpack.decode(
        b.attachments.take_chunk(transfer_id + (2).to_bytes(4, "big") + ahead)
    ) == [1, "receiving"]
    assert chunk_rows(b) == before + 1
    push(a, b)
    assert received_file(b, item_hash) == data


def test_bytes_that_are_not_the_named_file_are_refused_at_the_end(
    stations: tuple[Station, Station],
) -> None:
    """A sender holding the key that seals other bytes than the digest names."""
    a, b = stations
    data = PDF + b"x" * 100
    item_hash, transfer_id, ref = _expected(a, b, data)
    forged = seal_chunk(ref, 0, PDF + b"y" * 100)  # type: ignore[arg-type]
    answer = b.attachments.take_chunk(transfer_id + (0).to_bytes(4, "big") + forged)
    assert msgspec.msgpack.decode(answer) == [0, "refused"]
    with pytest.raises(InvalidRequest, match="do not match its digest"):
        received_file(b, item_hash)


def test_a_file_over_the_receivers_limit_is_refused_there_and_not_sent(
    stations: tuple[Station, Station],
) -> None:
    a, b = stations
    limit = b.config.attachments.max_file_bytes
    b.config.attachments.max_file_bytes = 2 * CHUNK_BYTES
    try:
        item_hash, _transfer_id, _ref = _expected(a, b, PDF + os.urandom(3 * CHUNK_BYTES))
    finally:
        b.config.attachments.max_file_bytes = limit
    with pytest.raises(InvalidRequest, match="refused here: larger than"):
        received_file(b, item_hash)
    push(a, b)
    [held] = desk(a).held(HOST, a.resolve(None), item_hash)
    assert (held.state, held.detail) == ("refused", "the peer refused the file")


def test_staging_refuses_what_it_should_and_keeps_nothing_of_it(
    stations: tuple[Station, Station],
) -> None:
    a, _b = stations
    d = desk(a)
    before = chunk_rows(a)
    html = b"<!DOCTYPE html><html><script>alert(1)</script></html>\n"
    with pytest.raises(InvalidRequest, match="is text/html by its content"):
        staged(a, html, "letter.pdf")
    elf = Path("/bin/true").read_bytes()[:CHUNK_BYTES]
    with pytest.raises(InvalidRequest, match=r"application/x-.*by its content"):
        staged(a, elf, "map.png")
    for name in ("../etc/passwd", "a\x00b", "x" * 500, "..", "a/b"):
        with pytest.raises(InvalidRequest, match="file name"):
            d.begin(HOST, name, 10, "00" * 32)
    with pytest.raises(InvalidRequest, match="1 byte to 100 MiB"):
        d.begin(HOST, "big.pdf", 100 * 1024 * 1024 + 1, "00" * 32)
    with pytest.raises(InvalidRequest, match="do not match the SHA-256"):
        upload = d.begin(HOST, "memo.pdf", len(PDF), "00" * 32)
        d.put(HOST, upload.upload_id, 0, PDF)
    with pytest.raises(ChannelNotFound):  # dropped with its refusal
        d.put(HOST, upload.upload_id, 0, PDF)
    assert chunk_rows(a) == before
    with a.db.reading() as s:
        assert s.scalar(select(func.count()).where(AttachmentRow.state == "uploading")) == 0


def test_an_upload_is_its_uploaders_alone_and_sent_once(stations: tuple[Station, Station]) -> None:
    a, _b = stations
    upload_id = staged(a, PDF)
    other = host("host:someone-else")
    with pytest.raises(ChannelNotFound):
        desk(a).send(other, a.resolve(None), "test", (upload_id,), text="mine",
                     to_role="principal", from_role="officer")  # fmt: skip
    send(a, upload_id)
    with pytest.raises(InvalidRequest, match="is sending, not ready"):
        send(a, upload_id)


def test_the_file_at_rest_opens_with_no_key_but_the_stations(
    stations: tuple[Station, Station],
) -> None:
    a, b = stations
    marker = b"CONFIDENTIAL-MARKER-" * 64
    item_hash = send(a, staged(a, b"plain text with a marker\n" + marker, "note.txt"))
    deliver(a, b)
    push(a, b)
    assert marker in received_file(b, item_hash)
    with b.db.reading() as s:  # the cells as they are on disk, not opened
        kept = b"".join(bytes(v) for v in s.scalars(text("SELECT sealed FROM attachment_chunk")))
        refs = b"".join(bytes(v) for v in s.scalars(text("SELECT ref FROM attachment")))
    assert marker[:40] not in kept and b"note.txt" not in refs


def test_an_upload_left_unsent_for_a_day_is_dropped_by_the_deadline_watch(
    stations: tuple[Station, Station],
) -> None:
    a, _b = stations
    old, fresh = staged(a, PDF + b"old"), staged(a, PDF + b"fresh")
    with a.db.transaction() as s:  # the first was staged two days ago
        row = s.scalars(select(AttachmentRow).where(AttachmentRow.attachment_id == old)).one()
        row.updated_at -= 2 * 86_400
    a.check_deadlines()
    with a.db.reading() as s:
        left = set(s.scalars(select(AttachmentRow.attachment_id)))
        orphans = s.scalar(select(func.count()).where(AttachmentChunkRow.attachment_id == old))
    assert old not in left and fresh in left and orphans == 0
    with pytest.raises(ChannelNotFound, match="no upload of yours"):
        send(a, old)


def test_a_document_asking_for_an_answer_is_owed_like_a_message(
    stations: tuple[Station, Station],
) -> None:
    a, b = stations
    by = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    entry = desk(a).send(HOST, a.resolve(None), "test", (staged(a, PDF + b"owed"),),
                         text="please confirm", to_role="principal", from_role="officer",
                         ack_deadline=by)  # fmt: skip
    deliver(a, b)
    owed = {d.item_hash: d for d in b.due(None) if d.kind == "acknowledgement"}
    assert entry.envelope_hash in owed and owed[entry.envelope_hash].owed_by == "us"


def test_a_file_whose_content_is_not_the_type_its_item_names_is_refused_by_the_receiver(
    stations: tuple[Station, Station],
) -> None:
    """The sender's word on the media type is not taken: the receiver finds it too."""
    a, b = stations
    upload_id = staged(a, png(), "photo.png")
    with a.db.transaction() as s:  # a sender that says its PNG is a PDF
        row = s.get(AttachmentRow, upload_id)
        assert row is not None
        row.ref = encode(msgspec.structs.replace(_ref(row.ref), media_type="application/pdf"))
    item_hash = send(a, upload_id)
    deliver(a, b)
    push(a, b)
    with pytest.raises(InvalidRequest, match=r"its content is image/png, not the application/pdf"):
        received_file(b, item_hash)
    with b.db.reading() as s:  # not one chunk of it kept
        [at_b] = s.scalars(select(AttachmentRow).where(AttachmentRow.item_hash == item_hash))
        kept = s.scalar(
            select(func.count()).where(AttachmentChunkRow.attachment_id == at_b.attachment_id)
        )
    assert at_b.state == "refused" and kept == 0
    with a.db.reading() as s:
        assert s.get(AttachmentRow, upload_id).state == "refused"  # type: ignore[union-attr]


def _ref(raw: bytes) -> AttachmentRef:
    return decode(raw, AttachmentRef, limit=1024, what="attachment", canonical=False)
