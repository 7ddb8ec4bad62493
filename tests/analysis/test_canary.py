"""Canary marks: deterministic, reader-specific, meaning-preserving; attribution names the
copier only past its threshold, and says so when a copy is not ours or is as written."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from backchannel.analysis import canary
from backchannel.analysis.canary import code, strip_invisible
from backchannel.analysis.canary.layout import INVISIBLE, layout

KEY, OTHER_KEY = bytes(32), bytes([7]) * 32
ITEM = b"i" * 32
TEXT = (
    "Furthermore, the Ministry wishes to notify the neighbouring command that the "
    "exercise will be conducted during the period 23 March 2026 to 2 April 2026. "
    'Colonel Dantor said "no live firing will take place near the border" and confirmed '
    "that approximately four hundred personnel and two battalions will take part. "
    "In addition, the organisers recognise the need for dialogue in order to co-ordinate "
    "the cease-fire, and will analyse each manoeuvre reported within 25 km of grid "
    "34T DQ 3105 6120 at 0600Z. Call sign KESTREL-2 remains on stand-by.\n\n"
    "Secondly, the delegation acknowledges receipt of the note of 2 February 2026 and "
    "would be grateful for an early reply. The convoy of three trucks travelled towards "
    "the centre of the valley prior to the inspection, and the observers analysed the "
    "route with the liaison officers. Lieutenant Marrow will co-ordinate the hand-over "
    "at the check-point on 4 March. Moreover, the commission intends to organise a "
    "follow-on meeting at least two days before the next rotation.\n\n"
    "Finally, both of the parties recognise that the demilitarisation of the zone is "
    "a long-standing aim. They agree to prioritise confidence-building measures, to "
    "minimise the presence of armoured vehicles, and to inform each other each day of "
    "any movement of more than 5 vehicles. Mr Ostrander will summarise the results."
)


def copy(reader: str, text: str = TEXT, key: bytes = KEY) -> str:
    return canary.mark(key, ITEM, "text", reader, text)


def retyped(text: str) -> str:
    return " ".join(strip_invisible(text).split())


def part(readers: list[str], text: str = TEXT, author: str = "") -> canary.Part:
    written: dict[str, tuple[int, ...]] = {author: (999,)} if author else {}
    return canary.Part(ITEM, "text", text, "en", {r: (i,) for i, r in enumerate(readers)}, written)


READERS = [f"reader-{i}" for i in range(50)]


def test_a_copy_is_the_same_for_one_reader_and_different_between_readers() -> None:
    assert copy("ann") == copy("ann")
    copies = {copy(r) for r in READERS}
    assert len(copies) == len(READERS)
    assert len({retyped(c) for c in copies}) == len(READERS)  # visible forms differ too


def test_what_must_stay_exact_is_in_every_copy() -> None:
    exact = [
        '"no live firing will take place near the border"', "Dantor", "0600Z",
        "34T DQ 3105 6120", "KESTREL-2", "Ministry", "25",
    ]  # fmt: skip
    for reader in READERS:
        seen = strip_invisible(copy(reader))
        for value in exact:
            assert seen.count(value) == TEXT.count(value), (reader, value)


def test_a_copy_differs_from_the_text_only_at_its_sites() -> None:
    lay = layout(TEXT)
    n = lay.visible_bits + lay.invisible_bits
    for reader in READERS[:10]:
        bits = code.bits(KEY, ITEM, "text", reader, n, lay.visible_bits)
        expected = TEXT
        for site, bit in sorted(zip(lay.sites, bits, strict=False), key=lambda sb: -sb[0].start):
            if bit:
                expected = expected[: site.start] + site.other + expected[site.end :]
        assert strip_invisible(copy(reader)) == expected


def test_invisible_marks_are_only_the_two_zero_width_characters_at_word_starts() -> None:
    marked = copy("ann")
    used = {c for c in marked if c in INVISIBLE}
    assert used <= {"\u200b", "\u200c"}
    for i, c in enumerate(marked):
        if c in INVISIBLE:
            assert marked[i - 1] in " \n" or marked[i - 1] in INVISIBLE


def test_verbatim_copy_names_the_reader_with_their_records() -> None:
    report = canary.attribute(copy("reader-7"), [part(READERS)], KEY)
    assert report.verdict == "suspects"
    assert [s.reader for s in report.suspects] == ["reader-7"]
    assert report.suspects[0].records == (7,)


def test_a_short_pasted_excerpt_is_enough() -> None:
    words = copy("reader-3").split(" ")
    excerpt = " ".join(words[40:72])
    report = canary.attribute(excerpt, [part(READERS)], KEY)
    assert [s.reader for s in report.suspects] == ["reader-3"]


def test_retyped_copy_names_the_reader_from_the_visible_forms_alone() -> None:
    report = canary.attribute(retyped(copy("reader-11")), [part(READERS)], KEY)
    assert report.positions > 0
    assert report.found[0].invisible == 0
    assert [s.reader for s in report.suspects] == ["reader-11"]


def test_the_text_as_written_is_reported_as_such() -> None:
    report = canary.attribute(TEXT, [part(READERS, author="ann")], KEY)
    assert report.verdict == "as-written" and not report.suspects


def test_a_copy_rendered_by_another_station_is_not_ours() -> None:
    theirs = canary.mark(OTHER_KEY, ITEM, "text", "reader-7", TEXT)
    report = canary.attribute(theirs, [part(READERS)], KEY)
    assert report.verdict == "not-rendered-here" and not report.suspects
    few = canary.attribute(theirs, [part(READERS[:3])], KEY)  # forms none of three was shown
    assert few.verdict == "not-rendered-here" and few.foreign > 0


def test_a_marked_copy_of_an_item_nobody_here_was_shown_is_not_ours() -> None:
    report = canary.attribute(copy("someone"), [part([])], KEY)
    assert report.verdict == "not-rendered-here" and report.readers_tested == 0


def test_a_paraphrase_keeps_no_mark_and_nobody_is_named() -> None:
    paraphrase = (
        "The ministry told the command next door that its exercise runs from late March "
        "into April with some four hundred soldiers in two battalions taking part; the "
        "colonel promised that nobody would fire live rounds close to the frontier."
    )
    report = canary.attribute(paraphrase, [part(READERS)], KEY)
    assert not report.suspects
    assert report.verdict in ("insufficient", "no-item")


def test_too_little_text_is_insufficient_and_says_how_much_more() -> None:
    short = " ".join(retyped(copy("reader-2")).split()[:40])
    report = canary.attribute(short, [part(READERS)], KEY)
    assert report.verdict == "insufficient"
    assert report.more_words is not None and report.more_words > 0


def test_marks_are_read_from_html_with_entities() -> None:
    marked = copy("reader-5")
    html = (
        "<html><body><nav>Home | News</nav><article><p>"
        + "".join(
            f"&#{ord(c)};" if c in INVISIBLE else {"<": "&lt;", "&": "&amp;"}.get(c, c)
            for c in marked
        )
        + "</p></article><script>var x = 1;</script></body></html>"
    )
    report = canary.attribute(html, [part(READERS)], KEY)
    assert [s.reader for s in report.suspects] == ["reader-5"]
    assert report.found[0].invisible > 0


def test_an_innocent_reader_is_never_named() -> None:
    """Many random leaks by readers outside the tested set: nobody tested may be named."""
    rng = random.Random(5)
    tested = READERS[:20]
    named = 0
    for trial in range(300):
        leaker = f"outsider-{trial}"
        words = copy(leaker).split(" ")
        start = rng.randrange(0, len(words) - 60)
        excerpt = " ".join(words[start : start + rng.choice((20, 40, 60))])
        if rng.random() < 0.5:
            excerpt = retyped(excerpt)
        report = canary.attribute(excerpt, [part(tested)], KEY)
        named += bool(report.suspects)
    assert named == 0


def test_the_threshold_bounds_an_exact_tail() -> None:
    """At even odds every term is +-1: the innocent's tail is binomial, known exactly."""
    for m in (10, 20, 40, 80):
        y, p = np.zeros(m, dtype=np.int8), np.full(m, 0.5)
        for alpha in (1e-2, 1e-4):
            z = code.threshold(y, p, alpha)
            k = math.ceil((z + m) / 2)  # S = 2k - m >= z
            tail = sum(math.comb(m, i) for i in range(k, m + 1)) / 2**m
            assert tail <= alpha
            assert z <= m + 1e-9 or 2.0**-m > alpha  # finite when reachable


def test_capacity_counts_sites_and_slots() -> None:
    cap = canary.capacity(TEXT)
    lay = layout(TEXT)
    assert (cap.visible, cap.invisible) == (lay.visible_bits, lay.invisible_bits)
    assert cap.visible > 0 and cap.visible_per_100_words > 0
    assert canary.capacity(TEXT, "fr").visible == 0


@pytest.mark.parametrize("n", [0, 1])
def test_no_item_and_empty_parts(n: int) -> None:
    parts = [part(READERS)] if n else []
    report = canary.attribute(
        "Nothing of this is in the archive at all, not a word of it.", parts, KEY
    )
    assert report.verdict == "no-item" and not report.suspects
