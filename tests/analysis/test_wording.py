"""Word-by-word changes: compared as written, shown in the reader's own copies, so a
canary mark is never shown as a change and every change is shown in the reader's words."""

from __future__ import annotations

import time
from difflib import SequenceMatcher

from backchannel.analysis import canary, wording
from backchannel.analysis.canary import strip_invisible

KEY = bytes(32)
BEFORE = (
    "Furthermore, the exercise will be conducted in order to co-ordinate the cease-fire, "
    "and approximately four hundred personnel will take part near the border."
)
AFTER = (
    "Furthermore, the exercise will be conducted in order to co-ordinate the cease-fire, "
    "and approximately two hundred personnel will take part well away from the border."
)


def marked(item: bytes, text: str, reader: str = "rex") -> str:
    return canary.mark(KEY, item, "clause 1", reader, text)


def test_only_the_words_the_author_changed_are_shown_as_changed() -> None:
    pieces = wording.changes(BEFORE, AFTER, BEFORE, AFTER)
    assert [(change, words.strip()) for change, words in pieces] == [
        ("same", BEFORE.split(" four ", maxsplit=1)[0]),
        ("removed", "four"),
        ("added", "two"),
        ("same", "hundred personnel will take part"),
        ("removed", "near"),
        ("added", "well away from"),
        ("same", "the border."),
    ]


def test_the_copies_marks_differ_between_versions_yet_only_real_changes_show() -> None:
    old, new = marked(b"v" * 32, BEFORE), marked(b"w" * 32, AFTER)  # two items, two markings
    assert strip_invisible(old) != BEFORE and strip_invisible(new) != AFTER  # visible forms
    naive = SequenceMatcher(None, strip_invisible(old).split(), strip_invisible(new).split())
    edits = [op for op in naive.get_opcodes() if op[0] != "equal"]  # marks look like edits
    pieces = wording.changes(BEFORE, AFTER, old, new)
    changed = [words.strip() for change, words in pieces if change != "same"]
    assert len(edits) > 2 == len([c for c, _w in pieces if c == "added"])
    assert [strip_invisible(w) for w in changed] == ["four", "two", "near", "well away from"]
    # The reader's copy of the new version, word for word: the pieces spell it out.
    assert "".join(words for change, words in pieces if change != "removed") == new


def test_a_phrase_in_its_other_form_keeps_its_place() -> None:
    old, new = marked(b"v" * 32, BEFORE, "pia"), marked(b"w" * 32, AFTER, "pia")
    pieces = wording.changes(BEFORE, AFTER, old, new)
    assert "".join(w for c, w in pieces if c != "removed") == new
    removed = "".join(w for c, w in pieces if c == "removed")
    assert strip_invisible(removed).split() == ["four", "near"]


def test_an_unchanged_text_is_one_piece_and_empty_texts_are_handled() -> None:
    assert wording.changes(BEFORE, BEFORE, BEFORE, BEFORE) == [("same", BEFORE)]
    assert wording.changes("", "New text.", "", "New text.") == [("added", "New text.")]
    assert wording.changes("Old text.", "", "Old text.", "") == [("removed", "Old text.")]


def test_a_text_past_the_limit_is_shown_whole_as_changed_and_at_once() -> None:
    before, after = "a " * 4096, "a b " * 2048  # repeated words: the matcher's worst case
    started = time.monotonic()
    assert wording.changes(before, after, before, after) == [
        ("removed", before),
        ("added", after),
    ]
    assert time.monotonic() - started < 1.0
    assert wording.MAX_WORK >= 300 * 300  # a long clause against a long clause is compared


def test_a_date_in_its_other_form_is_one_unit_shown_in_the_reader_s_words() -> None:
    before = "Demining begins on 1 June with mixed teams."
    after = "Demining begins on 1 July with mixed teams."
    readers = [f"reader-{k}" for k in range(40)]
    flipped = [r for r in readers if "June 1" in strip_invisible(marked(b"v" * 32, before, r))]
    assert flipped, "no reader of forty was shown the other date form"
    reader = flipped[0]
    old, new = marked(b"v" * 32, before, reader), marked(b"w" * 32, after, reader)
    pieces = wording.changes(before, after, old, new)
    assert "".join(w for c, w in pieces if c != "removed") == new
    removed = strip_invisible("".join(w for c, w in pieces if c == "removed"))
    added = strip_invisible("".join(w for c, w in pieces if c == "added"))
    assert removed.strip() == "June 1"  # the reader's form of the date, whole
    assert added.strip() in ("1 July", "July 1")


def test_a_copy_that_is_not_of_the_text_is_shown_whole_as_changed() -> None:
    pieces = wording.changes(BEFORE, AFTER, "something else entirely", AFTER)
    assert pieces == [("removed", "something else entirely"), ("added", AFTER)]
