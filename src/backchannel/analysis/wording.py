"""Word-by-word changes between two versions of a text, shown on one reader's copies.

The comparison is made on the texts as written.  A reader sees their own copies, whose
canary marks differ from one version to the next (another form of a phrase, invisible
marks before words), so comparing the copies would show marks as changes.  Each copy is
aligned word by word to its text as written, and every word of the copy takes the
verdict of the written words it stands for: the result shows only what the author
changed, in the words this reader was given.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from difflib import SequenceMatcher
from typing import Literal

from backchannel.analysis.canary import strip_invisible

Change = Literal["same", "added", "removed"]
Piece = tuple[Change, str]
MAX_WORDS = 4096  # past this many words a version is shown whole, as changed
_WORD = re.compile(r"\s*\S+\s*|\s+")  # a word with the space around it; leading space kept


def changes(before: str, after: str, before_copy: str, after_copy: str) -> list[Piece]:
    """The reader's copy of ``after`` in pieces, with the words removed from ``before``
    (from the reader's copy of it) where they stood."""
    old, new = _words(before), _words(after)
    if max(len(old), len(new)) > MAX_WORDS:
        return [("removed", before_copy), ("added", after_copy)]
    old_at, new_at = _bounds(old, _words(before_copy)), _bounds(new, _words(after_copy))
    pieces: list[Piece] = []
    matcher = SequenceMatcher(None, [w.strip() for w in old], [w.strip() for w in new], False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            _add(pieces, "same", new_at(j1, j2))
            continue
        _add(pieces, "removed", old_at(i1, i2))
        _add(pieces, "added", new_at(j1, j2))
    return pieces


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _bounds(written: list[str], copy: list[str]) -> Callable[[int, int], str]:
    """A function giving the copy's text for a run of written words.

    The copy differs from the text as written only where a phrase takes its other form
    (one word may stand for two) and in invisible characters, so the two align on every
    other word; inside a changed phrase the words are shared out in proportion."""
    start = [0] * (len(written) + 1)
    keys = [strip_invisible(w).strip().lower() for w in copy]
    matcher = SequenceMatcher(None, [w.strip().lower() for w in written], keys, False)
    for _tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for k in range(i1, i2):
            start[k] = j1 + (k - i1) * (j2 - j1) // (i2 - i1)
    start[len(written)] = len(copy)

    def text(i: int, j: int) -> str:
        return "".join(copy[start[i] : start[j]])

    return text


def _add(pieces: list[Piece], change: Change, text: str) -> None:
    if not text:
        return
    if pieces and pieces[-1][0] == change:
        pieces[-1] = (change, pieces[-1][1] + text)
    else:
        pieces.append((change, text))
