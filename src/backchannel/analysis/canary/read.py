"""Reading marks from a copy: align it with an item's text, then look at each site and slot.

The copy is split into the same tokens as the item, with the zero-width characters
that stand just before each word kept aside; the two are aligned word by word
(``difflib``), and a site is read only where the words on both sides of it are
aligned, a slot only where its word is.  A position is read as 0 (as written), 1
(the other form), or not at all (-1): retyped, edited or cut off.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

import numpy as np

from backchannel.analysis.canary.code import Bits
from backchannel.analysis.canary.layout import INVISIBLE, ONE, ZERO, Layout, normal

MAX_COPY_CHARS = 2 * 1024 * 1024
_TOKEN = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*|\.")
_ZW = "".join(sorted(INVISIBLE))


@dataclass(frozen=True)
class Copy:
    """A copy as tokens, with the invisible characters before each token."""

    tokens: tuple[str, ...]
    marks: tuple[str, ...]
    invisible: bool  # the copy holds invisible characters at all

    @property
    def words(self) -> int:
        return sum(1 for t in self.tokens if t != ".")


@dataclass(frozen=True)
class Reading:
    """What one item's copy says: a value per position, and how much of it matched."""

    y: Bits  # per position: 0, 1 or -1 (not read); the sites' first, then the slots'
    sites: int  # how many of the positions are sites'
    matched: int  # tokens of the item found in the copy
    visible: int  # sites read
    invisible: int  # slot bits read


def parse(raw: str) -> Copy:
    raw = raw[:MAX_COPY_CHARS]
    toks, marks, prev = [], [], 0
    for m in _TOKEN.finditer(_strip_between(raw)):
        gap = m.string[prev : m.start()]
        marks.append(re.split(r"\s", gap)[-1] if gap else "")
        toks.append(normal(m.group()))
        prev = m.end()
    clean = [_only(mk) for mk in marks]
    return Copy(tuple(toks), tuple(clean), any(clean))


def _strip_between(raw: str) -> str:
    """Invisible characters inside words would split them: keep only those at a word's start."""
    return re.sub(rf"(?<=\w)[{_ZW}]+(?=\w)", "", raw)


def _only(gap: str) -> str:
    return "".join(c for c in gap if c in INVISIBLE)


def read(lay: Layout, copy: Copy) -> Reading:
    at = _aligned(lay.tokens, copy.tokens)
    y = np.full(lay.visible_bits + lay.invisible_bits, -1, dtype=np.int8)
    starts: dict[int, int] = {}  # a site's first token -> where its form starts in the copy
    for k, site in enumerate(lay.sites):
        y[k], where = _form(site.tokens, site.other_tokens, site.first_token, at, copy.tokens)
        if where >= 0:
            starts[site.first_token] = where
    n = lay.visible_bits
    for j, slot in enumerate(lay.slots):
        found = at.get(slot.token, starts.get(slot.token))
        mark = copy.marks[found] if found is not None and found < len(copy.marks) else ""
        if len(mark) == 2 and set(mark) <= {ZERO, ONE}:
            y[n + 2 * j], y[n + 2 * j + 1] = (int(c == ONE) for c in mark)
    return Reading(y, n, len(at), int((y[:n] >= 0).sum()), int((y[n:] >= 0).sum()))


def _form(
    written: tuple[str, ...],
    other: tuple[str, ...],
    first: int,
    at: dict[int, int],
    copy: tuple[str, ...],
) -> tuple[int, int]:
    """Which form stands in the copy next to an aligned neighbour of the site: the
    word after it, else the word before it (the longer form first, as one may end
    the other), and where it starts in the copy."""
    forms = sorted(((written, 0), (other, 1)), key=lambda f: -len(f[0]))
    after, before = first + len(written), first - 1
    for form, value in forms:
        if after in at and copy[max(0, at[after] - len(form)) : at[after]] == form:
            return value, at[after] - len(form)
    for form, value in forms:
        if before in at and copy[at[before] + 1 : at[before] + 1 + len(form)] == form:
            return value, at[before] + 1
    return -1, -1


def _aligned(item: tuple[str, ...], copy: tuple[str, ...]) -> dict[int, int]:
    """Token index in the item -> the same token's index in the copy."""
    matcher = difflib.SequenceMatcher(None, item, copy, autojunk=False)
    out: dict[int, int] = {}
    for a, b, size in matcher.get_matching_blocks():
        if size >= 2 or (size == 1 and item[a] != "."):
            out.update((a + k, b + k) for k in range(size))
    return out
