"""Canary marks: each reader's copy of an item differs from every other reader's.

``mark`` gives one reader's copy of one text; ``capacity`` says how many bits a text
can carry; ``attribute`` takes a leaked copy and names the readers it came from, only
past a threshold set by the false-accusation risk.  Pure functions: the station
passes in its marks key, the texts, and who was shown what (its audit records).
See ``docs/canary.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from backchannel.analysis.canary import code
from backchannel.analysis.canary.attribute import (
    RISK,
    Found,
    Part,
    Report,
    Suspect,
    attribute,
    candidates,
)
from backchannel.analysis.canary.layout import INVISIBLE, layout
from backchannel.analysis.canary.read import parse, read
from backchannel.analysis.canary.render import render

__all__ = [
    "INVISIBLE", "RISK", "Capacity", "Found", "Part", "Report", "Suspect", "attribute",
    "candidates", "capacity", "is_copy_of", "mark", "strip_invisible", "variant",
]  # fmt: skip


@dataclass(frozen=True)
class Capacity:
    """How many bits one text carries: in the visible forms, and in the invisible marks."""

    words: int
    visible: int
    invisible: int

    @property
    def visible_per_100_words(self) -> float:
        return 100 * self.visible / self.words if self.words else 0.0


def mark(key: bytes, item: bytes, part: str, reader: str, text: str, language: str = "en") -> str:
    """The reader's copy of one text of one item."""
    lay = layout(text, language)
    if not lay.sites and not lay.slots:
        return text
    n = lay.visible_bits + lay.invisible_bits
    return render(lay, code.bits(key, item, part, reader, n, lay.visible_bits).tolist())


def strip_invisible(text: str) -> str:
    """The text without the invisible alphabet (and the other zero-width characters)."""
    return "".join(c for c in text if c not in INVISIBLE)


def is_copy_of(copy: str, text: str, language: str = "en") -> bool:
    """Whether ``copy`` is some reader's copy of ``text``: the same words but for the
    forms at its sites and the invisible marks."""
    lay = layout(text, language)
    seen = read(lay, parse(copy)).y[: lay.visible_bits].tolist()
    chosen = [max(0, b) for b in seen] + [0] * lay.invisible_bits
    return strip_invisible(render(lay, chosen)) == strip_invisible(copy)


def capacity(text: str, language: str = "en") -> Capacity:
    lay = layout(text, language)
    return Capacity(lay.words, lay.visible_bits, lay.invisible_bits)


def variant(key: bytes, item: bytes, reader: str) -> str:
    return code.variant(key, item, reader)
