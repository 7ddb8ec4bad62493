"""Texts in several languages on the wire: tags, authority, limits, and old items.

The golden file ``tests/golden/languages.json`` holds a message in English and
Ukrainian of the same force (an envelope and the item's bytes) and a document in the
layout before messages had other languages; ``v1.json`` and ``v2.json`` hold messages
of one language from before, which must still read back as single-language items.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest

from backchannel.protocol import Channel, Document, ItemReceived, LocalProtocolError, Message
from backchannel.protocol.errors import RemoteProtocolError
from backchannel.protocol.items import decode_item, encode_item
from backchannel.protocol.languages import (
    MAX_LANGUAGES,
    SAME_FORCE,
    Text,
    authority_line,
    canonical,
    choose,
    known,
)

FOLDER = Path(__file__).parents[1] / "golden"


def golden(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FOLDER / name).read_text(encoding="utf-8"))
    return data


def message(**fields: Any) -> Message:
    base: dict[str, Any] = {
        "text": "Ships keep apart.",
        "language": "en",
        "from_role": "principal",
        "to_role": "principal",
    }
    return Message(**(base | fields))


@pytest.mark.parametrize("name", ["v1.json", "v2.json"])
def test_old_golden_messages_read_back_as_single_language_items(name: str) -> None:
    g = golden(name)
    channel = Channel.restore(bytes.fromhex(g["channel_snapshot_b"]), bytes.fromhex(g["key"]))
    events = channel.receive(bytes.fromhex(g["envelope"]), g["now"])
    [received] = [e for e in events if isinstance(e, ItemReceived)]
    item = received.item
    assert isinstance(item, Message)
    assert (item.others, item.authority) == ((), "")
    assert item.texts() == (Text(g["item"]["language"], g["item"]["text"]),)


def test_the_bilingual_golden_message_reads_back_with_both_texts() -> None:
    g = golden("languages.json")
    channel = Channel.restore(bytes.fromhex(g["channel_snapshot_b"]), bytes.fromhex(g["key"]))
    events = channel.receive(bytes.fromhex(g["envelope"]), g["now"])
    [received] = [e for e in events if isinstance(e, ItemReceived)]
    item = received.item
    assert isinstance(item, Message)
    assert [[t.language, t.text] for t in item.texts()] == g["texts"]
    assert item.authority == g["authority"] == SAME_FORCE
    data = bytes.fromhex(g["message_item"])
    assert decode_item("message", data) == item
    assert encode_item(item) == data


def test_a_document_from_before_languages_still_decodes() -> None:
    data = bytes.fromhex(golden("languages.json")["document_before_languages"])
    item = decode_item("document", data)
    assert isinstance(item, Document)
    assert (item.text, item.others, item.authority) == ("See the file.", (), "")
    assert [a.name for a in item.attachments] == ["note.txt"]
    assert decode_item("document", encode_item(item)) == item


def test_a_malformed_document_is_still_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="malformed document item"):
        decode_item("document", msgspec.msgpack.encode(["x", "en", 1, 2, 3, 4, 5, 6, 7]))


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"language": "english"}, "is not a BCP 47 tag"),
        ({"language": "en-x-secret"}, "no extensions"),
        ({"others": (Text("uk", "Кораблі."),)}, "says which text is authoritative"),
        ({"others": (Text("EN", "Ships."),), "authority": SAME_FORCE}, "a language is repeated"),
        ({"others": (Text("uk", "Кораблі."),), "authority": "fr"}, "names no language"),
        ({"others": (Text("uk", "  "),), "authority": "uk"}, "its uk text"),
        ({"authority": "uk"}, "no other text to prevail"),
        (
            {
                "others": tuple(Text(t, "x") for t in ("uk", "fr", "de", "es")),
                "authority": SAME_FORCE,
            },
            f"1 to {MAX_LANGUAGES} languages",
        ),
        (
            {"text": "я" * 60_000, "others": (Text("uk", "я" * 60_000),), "authority": "uk"},
            "bytes together",
        ),
    ],
)
def test_bad_texts_are_refused_with_one_line(fields: dict[str, Any], error: str) -> None:
    with pytest.raises(LocalProtocolError, match=error) as refused:
        encode_item(message(**fields))
    assert "\n" not in str(refused.value)


def test_a_peer_item_in_a_language_we_do_not_know_still_decodes() -> None:
    """The wire takes any well-formed tag; only an officer's own text needs a known one."""
    item = message(language="tlh", others=(Text("en", "Ships."),), authority="en")
    assert decode_item("message", encode_item(item)) == item
    with pytest.raises(ValueError, match="not one this station knows"):
        known("tlh")


def test_tags_are_read_in_their_canonical_case() -> None:
    assert canonical("sr-latn-rs") == "sr-Latn-RS"
    assert canonical("EN-gb") == "en-GB"
    assert known(" uk ") == "uk"


def test_the_preferred_text_is_chosen_by_exact_tag_then_by_language() -> None:
    texts = (Text("en", "a"), Text("uk", "b"), Text("fr-CA", "c"))
    assert choose(texts, ["uk", "en"]) == 1
    assert choose(texts, ["fr"]) == 2
    assert choose(texts, ["de"]) == 0
    assert choose(texts, []) == 0


def test_the_authority_is_said_in_words() -> None:
    texts = (Text("en", "a"), Text("uk", "b"))
    assert (
        authority_line(texts, SAME_FORCE) == "the English and Ukrainian texts have the same force"
    )
    assert authority_line(texts, "uk") == "the Ukrainian text prevails"
    assert authority_line(texts[:1], "") == ""
