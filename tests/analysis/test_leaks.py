"""Leak matching as pure functions: sentences and words, the index, the matcher, pages."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backchannel.analysis import canary, leaks
from backchannel.analysis.leaks import index as index_module
from backchannel.analysis.leaks.index import MAX_POSTINGS
from backchannel.analysis.leaks.match import search
from backchannel.analysis.leaks.page import MAX_PAGE_BYTES, PageError, decode, read_page
from backchannel.analysis.leaks.text import longest_run

KEY = bytes(range(32))
ARTILLERY = (
    "The Ministry of Defence of Aurelia proposes that heavy artillery be withdrawn to a "
    "distance of 30 km from the Vessa by 1 May 2026. The withdrawal would be verified by "
    "joint observation teams of six officers each, based at Tarn and at Kessa. We would be "
    "grateful for an answer by 20 April."
)
EXERCISE = (
    "Borduria will conduct the naval exercise Sea Shield in the northern gulf from 12 to "
    "16 June. Four frigates and two submarines will take part. Civilian shipping will be "
    "advised to keep 20 nautical miles away from the exercise area."
)
QUOTA = "The annual quota for the Kestrian fleet shall be 12,000 tonnes of cod."


@pytest.fixture(scope="module")
def embedder() -> leaks.Embedder:
    return leaks.Embedder()


@pytest.fixture(scope="module")
def index(embedder: leaks.Embedder) -> leaks.LeakIndex:
    built = leaks.LeakIndex()
    for name, text in (("artillery", ARTILLERY), ("exercise", EXERCISE), ("quota", QUOTA)):
        leaks.add_text(built, name, text, embedder.embed, KEY)
    return built


TEXTS = {"artillery": ARTILLERY, "exercise": EXERCISE, "quota": QUOTA}


def found(index: leaks.LeakIndex, embedder: leaks.Embedder, article: str) -> dict[str, str]:
    read = leaks.read_article(article, embedder.embed, KEY)
    return {a.doc: a.kind for a in leaks.scan(read, index, TEXTS.__getitem__) if a.kind}


# -- sentences and words -------------------------------------------------------------------


def test_sentences_keep_abbreviations_and_split_headings_and_lists() -> None:
    text = (
        'Memo reveals offer\nLt. Col. Marek said: "We agree." The 1st Brigade moves.\n'
        "- first point\n- second point"
    )
    assert leaks.sentences(text) == [
        "Memo reveals offer", 'Lt. Col. Marek said: "We agree."', "The 1st Brigade moves.",
        "- first point", "- second point",
    ]  # fmt: skip


def test_a_sentence_without_a_full_stop_is_cut_into_pieces() -> None:
    said = leaks.sentences(" ".join(["word"] * 150))
    assert [len(s.split()) for s in said] == [60, 60, 30]


def test_words_fold_case_spelling_hyphens_and_the_invisible_marks() -> None:
    marked = canary.mark(
        KEY, b"\x01" * 32, "text", "rex", "The co-ordinated Cease-Fire plan.", "en"
    )
    assert leaks.words(marked) == leaks.words("the coordinated ceasefire plan")
    assert leaks.words("organise") == leaks.words("organize")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from("abc"), max_size=12), st.lists(st.sampled_from("abc"), max_size=12))
def test_longest_run_is_the_longest_common_run(one: list[str], other: list[str]) -> None:
    brute = max(
        (k for i in range(len(one)) for j in range(len(other)) for k in range(1, 13)
         if one[i : i + k] == other[j : j + k] and i + k <= len(one) and j + k <= len(other)),
        default=0,
    )  # fmt: skip
    assert longest_run(one, other) == brute


# -- the index ----------------------------------------------------------------------------


def test_the_index_round_trips_as_bytes_and_keeps_growing(
    index: leaks.LeakIndex, embedder: leaks.Embedder
) -> None:
    copy = leaks.LeakIndex.from_bytes(index.to_bytes())
    assert copy.docs == index.docs and copy.rows == index.rows
    assert np.array_equal(copy.vectors(range(copy.rows)), index.vectors(range(index.rows)))
    leaks.add_text(
        copy, "late", "A late item about a prisoner exchange at Brask.", embedder.embed, KEY
    )
    assert copy.rows_of(3) == range(index.rows, index.rows + 1)
    assert found(index, embedder, QUOTA) == {"quota": "verbatim"}


def test_an_index_without_a_document_finds_it_no_more_and_the_others_as_before(
    index: leaks.LeakIndex, embedder: leaks.Embedder
) -> None:
    """What retention leaves after destroying an item: the index less its texts."""
    smaller = index.without({"exercise"})
    assert smaller.docs == ["artillery", "quota"]
    assert smaller.rows == index.rows - len(index.rows_of(1))
    assert np.array_equal(smaller.vectors(smaller.rows_of(1)), index.vectors(index.rows_of(2)))
    assert found(smaller, embedder, EXERCISE) == {}
    assert found(smaller, embedder, QUOTA) == {"quota": "verbatim"}
    assert found(smaller, embedder, ARTILLERY) == found(index, embedder, ARTILLERY)
    copy = leaks.LeakIndex.from_bytes(smaller.to_bytes())
    assert copy.docs == smaller.docs and found(copy, embedder, QUOTA) == {"quota": "verbatim"}


def test_an_index_of_another_format_or_damaged_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "FORMAT", 9)
    other = leaks.LeakIndex().to_bytes()
    monkeypatch.undo()
    with pytest.raises(ValueError, match="another version"):
        leaks.LeakIndex.from_bytes(other)
    data = leaks.LeakIndex().to_bytes()
    for damaged in (data[:40], data.replace(b"format", b"formet"), b"not an index"):
        with pytest.raises(ValueError, match=r"does not open|another version"):
            leaks.LeakIndex.from_bytes(damaged)


def test_shingles_are_keyed() -> None:
    spoken = leaks.words("heavy artillery be withdrawn")
    assert not np.array_equal(leaks.shingles(spoken, KEY), leaks.shingles(spoken, bytes(32)))


def test_a_shingle_everyone_shares_is_skipped(embedder: leaks.Embedder) -> None:
    common = leaks.LeakIndex()
    for i in range(MAX_POSTINGS + 1):
        vectors = np.zeros((1, 384), dtype=np.float32)
        common.add(f"d{i}", vectors, [leaks.shingles(leaks.words("in order to"), KEY)])
    hits = common.lexical([leaks.shingles(leaks.words("in order to"), KEY)])
    assert hits.row.size == 0


# -- the matcher --------------------------------------------------------------------------


def test_a_quote_is_verbatim_and_names_only_its_item(
    index: leaks.LeakIndex, embedder: leaks.Embedder
) -> None:
    article = (
        "Officials were stunned. According to the memo, heavy artillery would be withdrawn "
        "to a distance of 30 km from the Vessa by 1 May 2026, a senior official said. "
        "Nobody would comment on the record."
    )
    assert found(index, embedder, article) == {"artillery": "verbatim"}


def test_a_readers_marked_copy_quoted_is_found_as_the_item(
    index: leaks.LeakIndex, embedder: leaks.Embedder
) -> None:
    marked = canary.mark(KEY, b"\x02" * 32, "text", "rex", ARTILLERY, "en")
    assert marked != ARTILLERY
    assert found(index, embedder, f"The leaked text reads: {marked}") == {"artillery": "verbatim"}


def test_an_article_on_the_same_topic_discloses_nothing(
    index: leaks.LeakIndex, embedder: leaks.Embedder
) -> None:
    article = (
        "Tensions along the Vessa have risen this spring. Analysts say both armies have "
        "reinforced their positions, and the foreign ministers will meet next month in a "
        "neutral capital to discuss the river border."
    )
    assert found(index, embedder, article) == {}


def test_the_evidence_pairs_an_article_sentence_with_the_items(
    index: leaks.LeakIndex, embedder: leaks.Embedder
) -> None:
    read = leaks.read_article(f"Background. {EXERCISE}", embedder.embed, KEY)
    best = leaks.scan(read, index, TEXTS.__getitem__)[0]
    assert best.doc == "exercise" and best.kind == "verbatim"
    assert [e.at for e in best.evidence] == [0, 1, 2]
    assert best.evidence[1].item == "Four frigates and two submarines will take part."


def test_the_lexical_matcher_alone_finds_no_paraphrase(
    index: leaks.LeakIndex, embedder: leaks.Embedder
) -> None:
    article = "Two submarines and four frigates are to join a Bordurian drill in June."
    read = leaks.read_article(article, embedder.embed, KEY)
    lexical = leaks.Thresholds(semantic=False)
    assert [a for a in leaks.scan(read, index, TEXTS.__getitem__, lexical) if a.kind] == []


def test_search_finds_by_meaning_and_by_words(
    index: leaks.LeakIndex, embedder: leaks.Embedder
) -> None:
    by_meaning = search(leaks.read_article("submarines at sea", embedder.embed, KEY), index)
    assert by_meaning[0].doc == "exercise" and by_meaning[0].at == 1
    by_words = search(leaks.read_article("tonnes of cod", embedder.embed, KEY), index)
    assert by_words[0].doc == "quota"


def test_an_empty_archive_or_article_finds_nothing(embedder: leaks.Embedder) -> None:
    read = leaks.read_article(QUOTA, embedder.embed, KEY)
    assert leaks.scan(read, leaks.LeakIndex(), TEXTS.__getitem__) == []
    assert search(read, leaks.LeakIndex()) == []


# -- pages --------------------------------------------------------------------------------

PAGE = """<!doctype html><html><head><title>Memo shows artillery offer - Wire</title>
<meta property="article:published_time" content="2026-03-02"></head><body>
<nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
<article><h1>Memo shows artillery offer</h1>
<p>A memo seen by this agency shows that the ministry offered to withdraw heavy artillery
thirty kilometres from the river by 1 May, under joint observation by both sides.</p>
<p>The ministry declined to comment on the document when reached on Tuesday evening.</p>
<p><a href="/more">Read more</a></p></article>
<div class="share">Share on Twitter Share on Facebook</div>
<footer>Copyright 2026 Wire Agency</footer></body></html>"""


def test_a_page_is_reduced_to_its_main_text_with_title_and_date() -> None:
    page = read_page(PAGE)
    assert page.title == "Memo shows artillery offer" and page.date == "2026-03-02"
    assert "withdraw heavy artillery" in page.text
    for boilerplate in ("Home", "Share on", "Read more", "Copyright"):
        assert boilerplate not in page.text


def test_the_marks_are_read_from_the_page_before_it_is_reduced() -> None:
    marked = canary.mark(KEY, b"\x03" * 32, "text", "rex", ARTILLERY, "en")
    page = read_page(f"<html><body><article><p>{marked}</p></article></body></html>")
    assert any(c in canary.INVISIBLE for c in page.marked)


def test_broken_html_is_read() -> None:
    page = read_page("<html><body><p>The withdrawal <b>will be verified by <i>joint teams")
    assert "joint teams" in page.text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (b"", "no text"),
        (b"<html><body><script>var x = 1;</script></body></html>", "no text"),
        (b"x" * (MAX_PAGE_BYTES + 1), "larger than"),
    ],
)
def test_bad_pages_are_refused_in_one_line(data: bytes, message: str) -> None:
    with pytest.raises(PageError, match=message) as raised:
        read_page(decode(data))
    assert "\n" not in str(raised.value)


def test_a_page_in_another_language_is_scanned_with_a_note() -> None:
    page = read_page(
        "La ministère propose de retirer l'artillerie lourde à une distance de trente "
        "kilomètres de la rivière avant le premier mai, sous l'observation conjointe des "
        "deux parties, et demande une réponse rapide de la part du commandement voisin."
    )
    assert page.notes and "English" in page.notes[0]
