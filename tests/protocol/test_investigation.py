"""The items of a joint investigation: each limit refused in one line, on both sides of
the wire, and the limits themselves accepted."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from backchannel.protocol.encoding import encode
from backchannel.protocol.errors import LocalProtocolError, RemoteProtocolError
from backchannel.protocol.investigation import (
    MAX_ARTICLE_CHARS,
    MAX_NAMED_ITEMS,
    MAX_READER_CHARS,
    MAX_READERS,
    MAX_SOURCE_CHARS,
    MAX_TITLE_CHARS,
    Finding,
    Investigation,
)
from backchannel.protocol.items import MAX_TEXT_CHARS, Item, decode_item, encode_item

ID = bytes(range(16))
ITEM = bytes(32)


def asked(**changes: object) -> Investigation:
    item = Investigation(ID, "https://wire.test/1", "Memo", "2026-11-30", "The text.", (ITEM,))
    return msgspec.structs.replace(item, **changes)


def found(**changes: object) -> Finding:
    return msgspec.structs.replace(Finding(ID, "not-ours", "Not from our copies."), **changes)


BAD: dict[str, tuple[Callable[[], Item], str]] = {
    "no-text": (lambda: asked(text="  "), "carries no text"),
    "long-text": (lambda: asked(text="x" * (MAX_ARTICLE_CHARS + 1)), "text is longer"),
    "long-copy": (lambda: asked(copy="x" * (MAX_ARTICLE_CHARS + 1)), "copy is longer"),
    "long-source": (lambda: asked(source="x" * (MAX_SOURCE_CHARS + 1)), "source is longer"),
    "long-title": (lambda: asked(title="x" * (MAX_TITLE_CHARS + 1)), "title is longer"),
    "long-note": (lambda: asked(note="x" * (MAX_TEXT_CHARS + 1)), "note is longer"),
    "no-items": (lambda: asked(items=()), "names 1 to"),
    "many-items": (lambda: asked(items=(ITEM,) * (MAX_NAMED_ITEMS + 1)), "names 1 to"),
    "twice": (lambda: asked(items=(ITEM, ITEM)), "each item once"),
    "long-finding": (lambda: found(text="x" * (MAX_TEXT_CHARS + 1)), "text is longer"),
    "many-readers": (lambda: found(readers=("r",) * (MAX_READERS + 1)), "at most"),
    "blank-reader": (lambda: found(readers=(" ",)), "reader's name"),
    "long-reader": (lambda: found(readers=("r" * (MAX_READER_CHARS + 1),)), "reader's name"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_items_are_refused_in_one_line_both_ways(case: str) -> None:
    make, message = BAD[case]
    item = make()
    with pytest.raises(LocalProtocolError, match=message) as refused:
        encode_item(item)
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 200
    with pytest.raises(RemoteProtocolError, match=message):
        decode_item(item.item_type, encode(item))


def test_the_limits_themselves_are_accepted() -> None:
    items: list[Item] = [
        asked(text="x" * MAX_ARTICLE_CHARS, source="s" * MAX_SOURCE_CHARS,
              title="t" * MAX_TITLE_CHARS, items=tuple(bytes([i]) * 32 for i in range(64))),
        asked(copy="c" * MAX_ARTICLE_CHARS, note="n" * 1000),
        found(readers=tuple("r" * MAX_READER_CHARS for _ in range(MAX_READERS))),
        found(verdict="rendered-here"), found(verdict="under-investigation", text=""),
    ]  # fmt: skip
    for item in items:
        assert decode_item(item.item_type, encode_item(item)) == item


def test_a_verdict_and_an_id_need_their_shape_on_the_wire() -> None:
    with pytest.raises(RemoteProtocolError):
        decode_item("finding", encode(found(verdict="guilty")))
    with pytest.raises(RemoteProtocolError):
        decode_item("finding", encode(found(investigation_id=b"short")))
