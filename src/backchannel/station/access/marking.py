"""Canary marks as the door applies them: each reader's own copy of an item's texts.

The marks key is derived from the station key, so a copy of the database alone
neither reproduces nor reads a mark.  A reader is named by their login (the host by
``host:<login>``); the author of an item we sent sees it as written.  What a reader
was shown is named in the audit record of the rendering: ``canary v1 <tag>``, or
``as written``.  See ``docs/canary.md``.
"""

from __future__ import annotations

from backchannel.analysis import canary
from backchannel.protocol import Item
from backchannel.protocol.kdf import derive_key
from backchannel.station.core.hooks import ItemHooks

AS_WRITTEN = "as written"


class Marker:
    def __init__(self, station_key: bytes) -> None:
        self.key = derive_key(station_key, "canary-marks")

    def copy(self, hooks: ItemHooks, item: Item, item_hash: bytes, reader: str) -> tuple[Item, str]:
        """The reader's copy of the item, and the variant its audit record names
        (empty for an item with no text a person reads)."""
        named: list[str] = []

        def mark(part: str, text: str, language: str) -> str:
            named.append(part)
            return canary.mark(self.key, item_hash, part, reader, text, language)

        marked = hooks.marked(item, mark)
        return marked, canary.variant(self.key, item_hash, reader) if named else ""

    def as_written(self, hooks: ItemHooks, item: Item) -> str:
        """What the audit record names when the item is shown as written."""
        return AS_WRITTEN if self.texts(hooks, item) else ""

    @staticmethod
    def texts(hooks: ItemHooks, item: Item) -> list[tuple[str, str, str]]:
        """The item's texts a person reads: (which, the text as written, its language)."""
        found: list[tuple[str, str, str]] = []

        def keep(part: str, text: str, language: str) -> str:
            found.append((part, text, language))
            return text

        hooks.marked(item, keep)
        return found
