"""Attachments as officers use them: checked against the matrix, audited, through the door.

Staging a file and sending it are sending (``send-item``); a file's bytes are an
item's content: a download is a reading of its item (``read-item`` at the item's
labels, refused in the words of a missing item to whoever may not read it) and is
audited once, as a ``download`` of that item, in the transaction that checked it,
before the first byte goes out.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from backchannel.protocol.attachments import Document
from backchannel.protocol.items import Role
from backchannel.station.access.door import NO_ITEM, Door, require
from backchannel.station.access.policy import Action, Officer
from backchannel.station.attachments.service import Attachments, Held, Upload
from backchannel.station.core.errors import ChannelNotFound, InvalidRequest
from backchannel.station.core.records import Entry

NO_FILE = "this item has no attachment with that number"


class AttachmentDesk:
    def __init__(self, door: Door, files: Attachments) -> None:
        self.door, self.files = door, files
        self.station = door.station

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
    ) -> Entry:
        """Send a message with the officer's staged files: a document."""
        require(officer, Action.SEND_ITEM, clearances)
        files = self.files.staged(officer.name, uploads) if uploads else ()
        return self.door.send(
            officer, channel, origin, text=text, to_role=to_role, language=language,
            clearances=clearances, ack_deadline=ack_deadline, from_role=from_role,
            reply_to=reply_to, files=files,
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
    ) -> tuple[Held, Iterator[bytes]]:
        """A file of an item, checked whole, for this officer; audited before any byte."""
        require(officer, Action.READ_ITEM)
        channel_id = self.station.resolve(channel)
        with self.door.showing(officer, origin, channel_id, action="download") as showing:
            entry = self.station.entry_in(showing.s, channel_id, item_hash)
            require(officer, Action.READ_ITEM, entry.clearances, hidden=NO_ITEM)
            item = entry.item
            if not isinstance(item, Document) or not 0 <= position < len(item.attachments):
                raise ChannelNotFound(NO_FILE)
            held = self.files.of_item(showing.s, item)[position]
            if not held.ready:
                raise InvalidRequest(held.why_not())
            showing.shown([(bytes.fromhex(entry.envelope_hash), f"attachment {position}")])
        return held, self.files.plaintext(held)
