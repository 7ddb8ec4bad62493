"""The words of the files held here, as the leak index reads them (``HeldTexts``).

A file is read once it is here whole and checked (complete, or ours to send); its
text is found by ``text.py`` and indexed as ``<channel>/<item hash>/attachment-<n>``,
so a scan finds a leaked document as it finds a leaked message, and archive search
finds a file by its words. Nothing of the text is kept but what the index keeps
(sealed, like the index of messages).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from backchannel.station.attachments.service import Attachments, Held
from backchannel.station.attachments.text import has_text, joined, text_of

MAX_SCANNED_BYTES = 32 * 1024 * 1024  # a larger file is not read for its words
_NAME = re.compile(r"^([0-9a-f]{32})/([0-9a-f]{64})/attachment-(\d{1,2})$")


class FileTexts:
    def __init__(self, files: Attachments) -> None:
        self.files = files

    def new(self, known: set[str]) -> Iterator[tuple[str, str]]:
        for name, held in self.files.readable():
            if name not in known:
                yield name, self._read(held)

    def text(self, name: str) -> str:
        found = _NAME.match(name)
        if found is None:
            return ""
        channel_id, item_hash, position = found.group(1), found.group(2), int(found.group(3))
        held = self.files.readable(channel_id, item_hash, position)
        return self._read(held[0][1]) if held else ""

    def _read(self, held: Held) -> str:
        ref = held.ref
        if not has_text(ref.media_type) or ref.size > MAX_SCANNED_BYTES:
            return ""
        data = joined(self.files.plaintext(held), MAX_SCANNED_BYTES)
        return text_of(ref.media_type, data) if data is not None else ""
