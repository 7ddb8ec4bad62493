"""Attachments as officers use them: checked against the matrix, audited, through the door.

Staging a file and sending it are sending (``send-item``); a file's bytes are an
item's content: a download is a reading of its item (``read-item`` at the item's
labels, refused in the words of a missing item to whoever may not read it) and is
audited once, as a ``download`` of that item, in the transaction that checked it,
before the first byte goes out.  A preview (``preview.py``) is the same reading, audited
as a ``preview``, of a file rendered as a picture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from backchannel.protocol.attachments import Document
from backchannel.protocol.items import Role
from backchannel.protocol.languages import Text
from backchannel.station.access.door import NO_ITEM, Door, require
from backchannel.station.access.policy import Action, Officer
from backchannel.station.attachments import preview as previews
from backchannel.station.attachments.marks import (
    MARKED_TYPES,
    MAX_MARKED_BYTES,
    Marks,
    mark_pdf,
    tags_in,
)
from backchannel.station.attachments.service import Attachments, Held, Upload
from backchannel.station.core.errors import ChannelNotFound, InvalidRequest
from backchannel.station.core.records import Entry

NO_FILE = "this item has no attachment with that number"


@dataclass(frozen=True)
class Download:
    held: Held
    chunks: Iterator[bytes]
    size: int  # of what is served: a marked copy differs from the file as sent
    mark: str  # what the audit record says of it


@dataclass(frozen=True)
class Traced:
    """A download whose mark a file carries."""

    channel_id: str
    item_hash: str
    name: str
    reader: str
    at: float
    tag: str


class AttachmentDesk:
    def __init__(self, door: Door, files: Attachments) -> None:
        self.door, self.files = door, files
        self.station = door.station
        self.marks = Marks(self.station.key)

    def begin(self, officer: Officer, name: str, size: int, digest: str) -> Upload:
        require(officer, Action.SEND_ITEM)
        try:
            raw = bytes.fromhex(digest)
        except ValueError:
            raise InvalidRequest("the digest is the file's SHA-256: 64 hex digits") from None
        return self.files.begin(officer.name, name, size, raw)

    def put(self, officer: Officer, upload_id: str, index: int, data: bytes) -> Upload:
        require(officer, Action.SEND_ITEM)
        return self.files.put(officer.name, upload_id, index, data)

    def stage_file(self, officer: Officer, name: str, path: str) -> Upload:
        require(officer, Action.SEND_ITEM)
        return self.files.stage_file(officer.name, name, path)

    def send(
        self,
        officer: Officer,
        channel: str,
        origin: str,
        uploads: tuple[str, ...],
        *,
        text: str,
        to_role: Role,
        language: str = "en",
        clearances: tuple[str, ...] = (),
        ack_deadline: datetime | None = None,
        from_role: Role | None = None,
        reply_to: str = "",
        others: tuple[Text, ...] = (),
        authority: str = "",
        despite_flags: bool = False,
    ) -> Entry:
        """Send a message with the officer's staged files: a document (``Door.send``
        for the text in other languages and the flags)."""
        require(officer, Action.SEND_ITEM, clearances)
        files = self.files.staged(officer.name, uploads) if uploads else ()
        return self.door.send(
            officer, channel, origin, text=text, to_role=to_role, language=language,
            clearances=clearances, ack_deadline=ack_deadline, from_role=from_role,
            reply_to=reply_to, files=files, others=others, authority=authority,
            despite_flags=despite_flags,
        )  # fmt: skip

    def held(self, officer: Officer, channel: str, item_hash: str) -> list[Held]:
        """Where each file of an item stands here (no content: the item's own page,
        rendered through the door, shows its names)."""
        require(officer, Action.READ_ITEM)
        channel_id = self.station.resolve(channel)
        with self.station.db.reading() as s:
            entry = self.station.entry_in(s, channel_id, item_hash)
            require(officer, Action.READ_ITEM, entry.clearances, hidden=NO_ITEM)
            if not isinstance(entry.item, Document):
                return []
            return self.files.of_item(s, entry.item)

    def download(
        self, officer: Officer, channel: str, item_hash: str, position: int, origin: str
    ) -> Download:
        """A file of an item, checked whole, for this officer; audited before any byte.
        A PDF is the officer's own copy, marked (``marks.py``); the audit names the mark."""
        found = self.held(officer, channel, item_hash)  # refused here as below, unaudited
        copy, mark = None, ""
        if 0 <= position < len(found) and found[position].ready:
            copy, mark = self._marked(found[position], item_hash, position, officer.name)
        held = self._shown(
            officer, channel, item_hash, position, origin, action="download", detail=mark
        )
        if copy is not None:
            return Download(held, iter([copy]), len(copy), mark)
        return Download(held, self.files.plaintext(held), held.ref.size, mark)

    def _marked(
        self, held: Held, item_hash: str, position: int, reader: str
    ) -> tuple[bytes | None, str]:
        """The reader's marked copy and what the audit says of it, or (None, "") for a
        file of a type that carries no mark."""
        ref = held.ref
        if ref.media_type not in MARKED_TYPES:
            return None, ""
        if ref.size > MAX_MARKED_BYTES:
            return None, ", unmarked: larger than a marked copy"
        tag = self.marks.tag(item_hash, position, reader)
        copy = mark_pdf(b"".join(self.files.plaintext(held)), tag)
        return (copy, f", mark {tag}") if copy is not None else (None, ", unmarked: unreadable")

    def trace(self, officer: Officer, data: bytes, origin: str) -> list[Traced]:
        """Whose downloaded copy a file is: the downloads whose mark it carries, of the
        files this officer may read."""
        require(officer, Action.SCAN_LEAKS)
        if len(data) > MAX_MARKED_BYTES:
            raise InvalidRequest(f"a file to trace is at most {MAX_MARKED_BYTES >> 20} MiB")
        tags = tags_in(data)
        found: list[Traced] = []
        for name, held in self.files.readable() if tags else ():
            channel_id, item_hash, part = name.split("/")
            with self.station.db.reading() as s:
                entry = self.station.entry_in(s, channel_id, item_hash)
            if not officer.may(Action.READ_ITEM, entry.clearances):
                continue
            for record in self.station.audit.show(item_hash=bytes.fromhex(item_hash)):
                r = record.record
                at = f"{part.replace('-', ' ')}, mark "
                if r.action == "download" and any(r.detail == at + t for t in tags):
                    found.append(Traced(channel_id, item_hash, held.ref.name, r.officer,
                                        record.at, r.detail.rsplit(" ", 1)[1]))  # fmt: skip
        self.door.noted(officer, "trace", origin, detail=f"{len(found)} download(s) found")
        return found

    def preview(
        self,
        officer: Officer,
        channel: str,
        item_hash: str,
        position: int,
        origin: str,
        *,
        page: int = 0,
    ) -> bytes:
        """A file of an item rendered as a PNG (a PDF page, an image re-encoded), checked
        and audited as a download is; rendered for each request, nothing kept."""

        def previewable(held: Held) -> None:
            previews.check(held.ref.media_type, held.ref.size, page)

        held = self._shown(
            officer,
            channel,
            item_hash,
            position,
            origin,
            action="preview",
            detail=f" page {page}",
            check=previewable,
        )
        return previews.render(held.ref.media_type, self.files.plaintext(held), page)

    def _shown(
        self,
        officer: Officer,
        channel: str,
        item_hash: str,
        position: int,
        origin: str,
        *,
        action: str,
        detail: str = "",
        check: Callable[[Held], None] = lambda _held: None,
    ) -> Held:
        """A file of an item that this officer may read, whole here and passing
        ``check``; the showing is audited as ``action`` before the caller reads a byte."""
        require(officer, Action.READ_ITEM)
        channel_id = self.station.resolve(channel)
        with self.door.showing(officer, origin, channel_id, action=action) as showing:
            entry = self.station.entry_in(showing.s, channel_id, item_hash)
            require(officer, Action.READ_ITEM, entry.clearances, hidden=NO_ITEM)
            item = entry.item
            if not isinstance(item, Document) or not 0 <= position < len(item.attachments):
                raise ChannelNotFound(NO_FILE)
            held = self.files.of_item(showing.s, item)[position]
            if not held.ready:
                raise InvalidRequest(held.why_not())
            check(held)
            where = f"attachment {position}{detail}"
            showing.shown([(bytes.fromhex(entry.envelope_hash), where)])
        return held
