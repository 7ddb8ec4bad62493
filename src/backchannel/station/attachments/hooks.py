"""What attachments register with the ledger: the document, a message with files.

A document is read, acknowledged, marked, owed and guarded like a message (its text
is a message's); recording it binds or expects its files (``service.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from backchannel.protocol import Item
from backchannel.protocol.attachments import Document
from backchannel.station.core.hooks import (
    Feature,
    Forget,
    HeldTexts,
    ItemHooks,
    Recorded,
    Shown,
    Tick,
)
from backchannel.station.core.items import LEDGER

_MESSAGE = LEDGER.items[0]


def _describe(item: Item, shown: Shown) -> str:
    assert isinstance(item, Document)
    names = ", ".join(ref.name for ref in item.attachments)
    files = "1 file" if len(item.attachments) == 1 else f"{len(item.attachments)} files"
    return f"{_MESSAGE.describe(item, shown)} [{files}: {names}]"


def feature(
    recorded: Callable[[Recorded], None], tick: Tick, texts: HeldTexts, forget: Forget
) -> Feature:
    """The feature, with the station's ``Attachments.recorded`` as its hook, its
    ``forget_stale`` as its part of the deadline watch, and the words of its files for
    the leak index (``scanned.FileTexts``); ``forget`` drops a destroyed document's files."""
    return Feature(
        "attachments",
        (
            ItemHooks(
                Document,
                "Document",
                recorded=recorded,
                deadline=_MESSAGE.deadline,
                labels=_MESSAGE.labels,
                about=_MESSAGE.about,
                describe=_describe,
                marked=_MESSAGE.marked,
                languages=_MESSAGE.languages,
                shown_in=_MESSAGE.shown_in,
            ),
        ),
        tick=tick,
        forget=forget,
        texts=texts,
    )
