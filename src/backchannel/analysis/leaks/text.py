"""Sentences, words and shingles of a text, normalised so that a retyped copy still matches.

Words are compared case-folded, after Unicode compatibility folding, without the
invisible canary alphabet, with hyphens inside a word removed and British and American
spellings of the canary tables folded to one form: a reader's marked copy and the text
as written give the same words, so the marks never hide a leak from the scan.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata

import numpy as np

from backchannel.analysis.canary import strip_invisible
from backchannel.analysis.canary.tables import SPELLING

MAX_SENTENCES = 4000  # a scan or an item reads no more than this many sentences
MAX_SENTENCE_WORDS = 60  # longer runs without a full stop are cut into pieces this long
SHINGLE_WORDS = 3

_ABBREVIATED = frozenset((
    "mr", "mrs", "ms", "dr", "lt", "col", "brig", "gen", "maj", "capt", "cdr", "adm", "sgt",
    "cpl", "no", "nos", "ref", "refs", "art", "para", "paras", "fig", "figs", "st", "vs",
    "approx", "etc", "e.g", "i.e", "cf", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "hon", "rev", "prof", "dept", "govt",
))  # fmt: skip
_END = re.compile(r"[.!?]+[\"'”’)\]]*\s+|\n\s*\n|\n(?=\s*(?:[-*•▪]|\d+[.)])\s)")
HEADING_WORDS = 10
_WORD = re.compile(r"\w+(?:[-‐‑'’]\w+)*")
_HYPHEN = re.compile(r"[-‐‑]")


def sentences(text: str) -> list[str]:
    """The sentences of a text, in order (at most ``MAX_SENTENCES``)."""
    text = _headings_apart(strip_invisible(unicodedata.normalize("NFKC", text)))
    out: list[str] = []
    start = 0
    for m in _END.finditer(text):
        if _abbreviation_before(text, m.start()) or not _starts_sentence(text, m.end()):
            continue
        _keep(out, text[start : m.end()])
        start = m.end()
        if len(out) >= MAX_SENTENCES:
            return out[:MAX_SENTENCES]
    _keep(out, text[start:])
    return out[:MAX_SENTENCES]


def _headings_apart(text: str) -> str:
    """A short line without a full stop before a capitalised one is a heading: a paragraph."""
    lines = text.split("\n")
    for i in range(len(lines) - 1):
        line, after = lines[i].strip(), lines[i + 1].lstrip()
        if (
            line
            and len(line.split()) <= HEADING_WORDS
            and line[-1] not in ".!?,;:"
            and after[:1].isupper()
        ):
            lines[i] += "\n"
    return "\n".join(lines)


def _abbreviation_before(text: str, end: int) -> bool:
    if text[end] != ".":
        return False
    word = re.search(r"([\w.]+)$", text[max(0, end - 12) : end])
    return word is not None and (
        word.group(1).casefold() in _ABBREVIATED or len(word.group(1)) == 1
    )


def _starts_sentence(text: str, at: int) -> bool:
    rest = text[at : at + 3].lstrip("\"'“‘([")
    return not rest or not rest[0].islower()


def _keep(out: list[str], piece: str) -> None:
    piece = " ".join(piece.split())
    if not _WORD.search(piece):
        return
    spoken = piece.split(" ")
    for i in range(0, len(spoken), MAX_SENTENCE_WORDS):
        out.append(" ".join(spoken[i : i + MAX_SENTENCE_WORDS]))


def words(text: str) -> list[str]:
    """The words of a text as the matcher compares them."""
    text = strip_invisible(unicodedata.normalize("NFKC", text)).casefold()
    return [_folded(_HYPHEN.sub("", w).replace("’", "'")) for w in _WORD.findall(text)]


@functools.cache
def _spellings() -> dict[str, str]:
    folded: dict[str, str] = {}
    for one, other in SPELLING:
        folded[_HYPHEN.sub("", other.casefold())] = _HYPHEN.sub("", one.casefold())
    return folded


def _folded(word: str) -> str:
    return _spellings().get(word, word)


def shingles(spoken: list[str], key: bytes) -> np.ndarray:
    """The distinct keyed hashes of every run of ``SHINGLE_WORDS`` words (uint64).

    Keyed, so a persisted shingle says nothing to whoever lacks the station key even
    before the index is sealed; a text shorter than a shingle is one shingle.
    """
    if not spoken:
        return np.zeros(0, dtype=np.uint64)
    n = max(1, len(spoken) - SHINGLE_WORDS + 1)
    runs = {" ".join(spoken[i : i + SHINGLE_WORDS]) for i in range(n)}
    values = [_hash(key, run) for run in runs]
    return np.unique(np.array(values, dtype=np.uint64))


def _hash(key: bytes, run: str) -> int:
    return int.from_bytes(hashlib.blake2b(run.encode(), digest_size=8, key=key).digest(), "big")


def longest_run(one: list[str], other: list[str]) -> int:
    """The length of the longest run of words the two share, in order (dynamic programming
    over the pairs of equal words only, so it costs what the texts share)."""
    where: dict[str, list[int]] = {}
    for j, w in enumerate(other):
        where.setdefault(w, []).append(j)
    best = 0
    previous: dict[int, int] = {}
    for w in one:
        current = {j: previous.get(j - 1, 0) + 1 for j in where.get(w, ())}
        if current:
            best = max(best, *current.values())
        previous = current
    return best
