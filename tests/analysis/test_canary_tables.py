"""Every entry of the variation tables: it is found where it should be, rendered as its
other form, read back from a retyped copy, and keeps what a reader must see unchanged."""

from __future__ import annotations

import pytest

from backchannel.analysis.canary import strip_invisible, tables
from backchannel.analysis.canary.layout import layout
from backchannel.analysis.canary.read import parse, read
from backchannel.analysis.canary.render import render

VOWELS = tuple("aeiouAEIOU")


def _entries() -> list[tuple[str, str, str]]:
    out = [("symmetric", a, b) for a, b in tables.SYMMETRIC]
    out += [("symmetric", b, a) for a, b in tables.SYMMETRIC]
    out += [("phrase", a, b) for a, b in tables.PHRASES]
    out += [("opener", a, b) for a, b in tables.OPENERS]
    out += [("title", a, b) for a, b in tables.TITLES]
    return out


def _carrier(kind: str, form: str) -> str:
    if kind == "opener":
        return f"The talks resumed. {form} the delegation agreed to meet again soon."
    if kind == "title":
        return f"The talks resumed and {form} Dantor agreed to meet again soon."
    return f"The talks resumed and the note said {form} without any further delay."


ENTRIES = _entries()


@pytest.mark.parametrize(("kind", "written", "other"), ENTRIES, ids=[e[1] for e in ENTRIES])
def test_each_entry_varies_and_reads_back(kind: str, written: str, other: str) -> None:
    assert written != other
    assert not any(c.isdigit() for c in written + other)
    if kind == "symmetric":  # may follow "a"/"an" ("an entire" is an entry of its own)
        assert written.startswith(VOWELS) == other.startswith(VOWELS)
    text = _carrier(kind, written)
    lay = layout(text)
    site = next(s for s in lay.sites if s.written == written)
    assert site.other == other
    chosen = [0] * (lay.visible_bits + lay.invisible_bits)
    chosen[lay.sites.index(site)] = 1
    copy = strip_invisible(render(lay, chosen))
    assert copy == text.replace(written, other, 1)  # nothing else changed
    assert read(lay, parse(copy)).y[lay.sites.index(site)] == 1
    assert read(lay, parse(text)).y[lay.sites.index(site)] == 0


@pytest.mark.parametrize(("written", "other"), tables.SYMMETRIC[:40])
def test_a_capitalised_form_inside_a_sentence_is_a_name_and_stays(written: str, other: str) -> None:
    name = written[0].upper() + written[1:]
    assert not [s for s in layout(f"They met the {name} Office today.").sites if s.start == 13]


def test_figures_vary_in_format_never_in_value() -> None:
    text = (
        "On 23 March 2026 four trucks and 2 tonnes of flour moved less than 10 km. "
        "The exercise ends on March 30, 2026."
    )
    found = {s.written: s.other for s in layout(text).sites}
    assert found["23 March 2026"] == "March 23, 2026"
    assert found["March 30, 2026"] == "30 March 2026"
    assert found["four"] == "4" and found["2"] == "two"
    assert found["km"] == "kilometres" and found["less than"] == "under"


@pytest.mark.parametrize(
    "text",
    [
        "Fire on 28, 29 and 30 March only.",  # the last day of a list
        "Closed from 2 to 5 May.",  # a range
        "See clause 4 vehicles rule.",  # a label's number
        "Phase 2 vehicles will move.",  # a capitalised label
        "Keep 4 km apart.",  # a count before a unit
        "Grid 34T DM 4488 1234, at 0600Z, call sign KESTREL-2, ref AVR/MOD/2026/114.",
        'He said "we will organise four convoys in order to co-operate".',  # quoted
        "May 4 trucks pass the Harbour Centre?",  # a modal, and names
        "Some four hundred and two hundred and four troops.",  # part of a larger number
    ],
)
def test_what_must_stay_exact_is_never_a_site(text: str) -> None:
    lay = layout(text)
    exact = ["30 March", "5 May", "4", "2", "4 km", "4488", "organise", "four", "May 4", "Centre"]
    for site in lay.sites:
        assert site.written not in exact, site


def test_an_article_goes_with_the_word_it_changes() -> None:
    found = {
        s.written: s.other for s in layout("It took an entire day and an additional hour.").sites
    }
    assert found == {"an entire": "a whole", "an additional": "a further"}


def test_a_language_without_tables_has_no_visible_capacity() -> None:
    text = "Die Übung beginnt am 23 March um 0600Z in order to organise the convoy."
    assert layout(text, "de").visible_bits == 0
    assert layout(text, "de").invisible_bits > 0
    assert layout(text, "en-GB").visible_bits > 0
