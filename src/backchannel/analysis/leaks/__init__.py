"""Leak matching: which of a station's texts a published text discloses, and how closely.

Pure functions over texts and an index the caller keeps (``LeakIndex``): the station
feeds it what it holds (``station/leaks``) and seals it at rest.  See ``docs/leaks.md``.
"""

from __future__ import annotations

from backchannel.analysis.leaks.embed import Embedder, ModelMissing
from backchannel.analysis.leaks.index import LeakIndex
from backchannel.analysis.leaks.match import (
    KINDS,
    Alignment,
    Article,
    Embed,
    Evidence,
    Found,
    Thresholds,
    read_article,
    scan,
    search,
)  # fmt: skip
from backchannel.analysis.leaks.text import sentences, shingles, words

__all__ = [
    "KINDS",
    "Alignment",
    "Article",
    "Embed",
    "Embedder",
    "Evidence",
    "Found",
    "LeakIndex",
    "ModelMissing",
    "Thresholds",
    "add_text",
    "read_article",
    "scan",
    "search",
    "sentences",
    "shingles",
    "words",
]  # fmt: skip


def add_text(index: LeakIndex, doc: str, text: str, embed: Embed, key: bytes) -> int:
    """Index one text under the caller's name for it; the number of sentences added."""
    said = sentences(text)
    if not said:
        return 0
    index.add(doc, embed(said), [shingles(words(s), key) for s in said])
    return len(said)
