"""Word-by-word changes between two versions of a text, shown on one reader's copies.

The comparison is made on the texts as written.  A reader sees their own copies, whose
canary marks differ from one version to the next (another form of a phrase, invisible
marks before words), so comparing the copies would show marks as changes.  A copy
differs from its text as written only at the layout's sites (a phrase in its other
form: "1 June" / "June 1") and by invisible characters; so each text is cut into
*units*, its words with every site kept whole, and each unit's place in the copy is
found by walking the sites.  A unit changed as written is shown in the reader's words:
the result shows only what the author changed, and nothing as written reaches the page.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from typing import Literal

from backchannel.analysis.canary.layout import INVISIBLE, Layout, layout

Change = Literal["same", "added", "removed"]
Piece = tuple[Change, str]
# The matcher's work grows with the product of the two word counts (and worse with
# repeated words): past this product a version is shown whole, as changed, so that a
# counterpart's text cannot stall the page that shows it.
MAX_WORK = 100_000
_WORD = re.compile(r"\s*\S+\s*|\s+")  # a word with the space after it; leading space kept


def changes(
    before: str, after: str, before_copy: str, after_copy: str, language: str = "en"
) -> list[Piece]:
    """The reader's copy of ``after`` in pieces, with the words removed from ``before``
    (from the reader's copy of it) where they stood."""
    whole: list[Piece] = []
    _add(whole, "removed", before_copy)
    _add(whole, "added", after_copy)
    if len(_WORD.findall(before)) * len(_WORD.findall(after)) > MAX_WORK:
        return whole
    old, new = _Units(before, before_copy, language), _Units(after, after_copy, language)
    if not (old.found and new.found):
        return whole
    pieces: list[Piece] = []
    matcher = SequenceMatcher(None, old.words, new.words, False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            _add(pieces, "same", new.copy(j1, j2))
            continue
        _add(pieces, "removed", old.copy(i1, i2))
        _add(pieces, "added", new.copy(j1, j2))
    return pieces


class _Units:
    """A text as written cut into units, and where each unit lies in one copy of it."""

    def __init__(self, written: str, copy: str, language: str) -> None:
        lay = layout(written, language)
        spans = _units(written, lay)
        self.words = [written[a:b].strip() for a, b in spans]
        self.text = copy
        at = _places(written, copy, lay, [a for a, _b in spans] + [len(written)])
        self.found = at is not None
        self.at = at or []

    def copy(self, i: int, j: int) -> str:
        """The copy's text of units ``i`` to ``j`` (the marks before a word go with it)."""
        return self.text[self.at[i] : self.at[j]]


def _units(text: str, lay: Layout) -> list[tuple[int, int]]:
    """Word spans (a word and the space after it), merged where a site spans words."""
    spans = [m.span() for m in _WORD.finditer(text)]
    merged: list[tuple[int, int]] = []
    sites = [(s.start, s.end) for s in lay.sites]
    for start, end in spans:
        if merged and any(a < start < b for a, b in sites):
            merged[-1] = (merged[-1][0], end)  # the site goes on into this word
        else:
            merged.append((start, end))
    return merged


def _places(written: str, copy: str, lay: Layout, bounds: list[int]) -> list[int] | None:
    """Where each written offset in ``bounds`` (none inside a site) lies in ``copy``;
    None if the copy is not a rendering of the written text."""
    visible = [k for k, c in enumerate(copy) if c not in INVISIBLE]
    seen = "".join(copy[k] for k in visible)
    shift, written_at, seen_at, moved = 0, 0, 0, []
    nexts = [s.start for s in lay.sites[1:]] + [len(written)]
    for site, next_start in zip(lay.sites, nexts, strict=False):
        gap = written[written_at : site.start]
        if seen[seen_at : seen_at + len(gap)] != gap:
            return None
        seen_at += len(gap)
        rest = written[site.end : min(site.end + 8, next_start)]  # what follows, unvaried
        form = next(
            (f for f in (site.written, site.other) if seen.startswith(f + rest, seen_at)), None
        )
        if form is None:
            return None
        seen_at, written_at = seen_at + len(form), site.end
        shift += len(form) - len(site.written)
        moved.append((site.end, shift))
    if seen[seen_at:] != written[written_at:]:
        return None
    places = []
    for bound in bounds:
        delta = next((d for end, d in reversed(moved) if end <= bound), 0)
        v = bound + delta  # the offset among the copy's visible characters
        places.append(visible[v - 1] + 1 if v else 0)
    places[-1] = len(copy)
    return places


def _add(pieces: list[Piece], change: Change, text: str) -> None:
    if not text:
        return
    if pieces and pieces[-1][0] == change:
        pieces[-1] = (change, pieces[-1][1] + text)
    else:
        pieces.append((change, text))
