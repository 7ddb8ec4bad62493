"""Attribution: which of the items this copy holds, and whose rendering it came from.

Evidence from every item found in the copy is pooled per reader: each reader is
scored over the positions of the items they were shown, and named a suspect only
when their score passes the threshold an innocent reader passes with probability at
most ``risk / readers tested`` — so the chance that anybody innocent is named is at
most ``risk``.  Otherwise the report says why not: the evidence is too thin (and
roughly how many more words would do), the copy is the text as written, or it carries
forms this station never rendered (the copy did not come from here).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from backchannel.analysis.canary import code
from backchannel.analysis.canary.layout import layout
from backchannel.analysis.canary.read import Copy, Reading, parse, read
from backchannel.analysis.canary.source import text_of

RISK = 1e-3  # the default bound on naming anybody innocent
SHINGLE = 4
MIN_SHARED = 3  # shingles a text must share with the copy to be aligned at all
MIN_MATCHED = 12  # aligned tokens for a text to count as found (or most of a short one)
HERE = 0.75  # the agreement the closer of two colluders reaches with their mix, on average


@dataclass(frozen=True)
class Part:
    """One text of one item as this station holds it, and who was shown it how."""

    item: bytes
    part: str  # which text of the item ("text", "clause 2", …)
    text: str
    language: str
    marked: dict[str, tuple[int, ...]]  # reader -> audit records of marked renderings
    as_written: dict[str, tuple[int, ...]] = field(default_factory=dict)  # the author


@dataclass(frozen=True)
class Found:
    item: bytes
    part: str
    words: int  # words of the item aligned with the copy
    visible: int  # sites read
    invisible: int  # slot bits read


@dataclass(frozen=True)
class Suspect:
    reader: str
    score: float
    threshold: float
    positions: int
    records: tuple[int, ...]  # the audit records of the renderings that support it


@dataclass(frozen=True)
class Report:
    verdict: str  # suspects | insufficient | as-written | not-rendered-here | no-item
    found: tuple[Found, ...]
    suspects: tuple[Suspect, ...]
    readers_tested: int
    risk: float
    positions: int  # positions read in all
    best_agreement: float  # the closest reader's share of agreeing positions
    foreign: int  # positions read in a form no reader here was shown
    more_words: int | None  # roughly how many more words would be needed, if insufficient
    top: tuple[Suspect, ...] = ()  # the highest scores, named or not (for the record)


@dataclass
class _Evidence:
    y: list[np.ndarray] = field(default_factory=list)
    visible: list[np.ndarray] = field(default_factory=list)  # a site's position, not a slot's
    p: list[np.ndarray] = field(default_factory=list)
    x: dict[str, list[np.ndarray]] = field(default_factory=dict)
    records: dict[str, list[int]] = field(default_factory=dict)
    parts: dict[str, list[int]] = field(default_factory=dict)


def attribute(raw: str, parts: Sequence[Part], key: bytes, risk: float = RISK) -> Report:
    """The report on a copy (plain text, or HTML: see ``source.py``)."""
    copy = parse(text_of(raw))
    evidence, found = _Evidence(), []
    for part, reading in _found(copy, parts):
        found.append(_described(part, reading))
        _gather(evidence, part, reading, key)
    if not found:
        return Report("no-item", (), (), 0, risk, 0, 0.0, 0, None)
    if not evidence.y:  # the items are there, but not one mark survived (a paraphrase)
        return Report("insufficient", tuple(found), (), len(evidence.x), risk, 0, 0.0, 0, None)
    return _judge(copy, evidence, tuple(found), risk)


def candidates(raw: str, texts: Sequence[tuple[str, str]]) -> list[int]:
    """Which of these (text, language) pairs share enough word runs with the copy to
    be aligned with it: the cheap first pass over a whole archive."""
    shingles = _shingles(parse(text_of(raw)).tokens)
    out = []
    for i, (text, language) in enumerate(texts):
        own = _shingles(layout(text, language).tokens)
        if len(own & shingles) >= min(MIN_SHARED, len(own)):
            out.append(i)
    return out


def _found(copy: Copy, parts: Sequence[Part]) -> list[tuple[Part, Reading]]:
    shingles = _shingles(copy.tokens)
    out = []
    for part in parts:
        lay = layout(part.text, part.language)
        own = _shingles(lay.tokens)
        if len(own & shingles) < min(MIN_SHARED, len(own)):
            continue
        reading = read(lay, copy)
        if reading.matched >= min(MIN_MATCHED, math.ceil(0.6 * len(lay.tokens))):
            out.append((part, reading))
    return out


def _shingles(tokens: tuple[str, ...]) -> set[tuple[str, ...]]:
    words = [t for t in tokens if t != "."]
    return {tuple(words[i : i + SHINGLE]) for i in range(max(1, len(words) - SHINGLE + 1))}


def _described(part: Part, reading: Reading) -> Found:
    return Found(part.item, part.part, reading.matched, reading.visible, reading.invisible)


def _gather(ev: _Evidence, part: Part, reading: Reading, key: bytes) -> None:
    seen = reading.y >= 0
    if not seen.any():
        return
    p_all = code.biases(key, part.item, part.part, len(reading.y), reading.sites)
    ev.y.append(reading.y[seen])
    ev.visible.append((np.arange(len(reading.y)) < reading.sites)[seen])
    ev.p.append(p_all[seen])
    for reader, records in part.marked.items():
        x = code.bits(key, part.item, part.part, reader, len(reading.y), reading.sites)[seen]
        ev.x.setdefault(reader, []).append(x)
        ev.records.setdefault(reader, []).extend(records)
        ev.parts.setdefault(reader, []).append(len(ev.y) - 1)


def _judge(copy: Copy, ev: _Evidence, found: tuple[Found, ...], risk: float) -> Report:
    """Score every reader, readers shown the same items together (one threshold each)."""
    positions = sum(len(y) for y in ev.y)
    alpha = risk / max(1, len(ev.x))
    groups: dict[tuple[int, ...], list[str]] = {}
    for reader in sorted(ev.x):
        groups.setdefault(tuple(ev.parts[reader]), []).append(reader)
    offsets = np.cumsum([0] + [len(y) for y in ev.y])
    scored, agreement, covered = [], 0.0, np.zeros(positions, dtype=bool)
    for which, readers in groups.items():
        y = np.concatenate([ev.y[i] for i in which])
        p = np.concatenate([ev.p[i] for i in which])
        x = np.stack([np.concatenate(ev.x[r]) for r in readers])
        limit = code.threshold(y, p, alpha)
        agrees = x == y
        for reader, score in zip(readers, code.scores(y, x, p).tolist(), strict=True):
            records = tuple(sorted(set(ev.records[reader])))
            scored.append(Suspect(reader, score, limit, len(y), records))
        agreement = max(agreement, float(agrees.mean(axis=1).max()))
        where = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in which])
        covered[where] |= agrees.any(axis=0)
    scored.sort(key=lambda s: s.score - s.threshold, reverse=True)
    suspects = tuple(s for s in scored if s.score >= s.threshold)
    foreign = _foreign(ev, covered, positions)
    verdict = _verdict(copy, ev, suspects, agreement, positions, risk)
    more = None if verdict != "insufficient" else _more_words(copy, ev, positions, alpha)
    return Report(
        verdict, found, suspects, len(ev.x), risk, positions, agreement, foreign, more,
        tuple(scored[:5]),
    )  # fmt: skip


def _foreign(ev: _Evidence, covered: np.ndarray, positions: int) -> int:
    """Positions read in a form that no reader here was shown (nor the text as written)."""
    as_written = (np.concatenate(ev.y) == 0) & np.concatenate(ev.visible)
    return int((~(covered | as_written)).sum()) if positions else 0


def _verdict(
    copy: Copy,
    ev: _Evidence,
    suspects: tuple[Suspect, ...],
    agreement: float,
    positions: int,
    risk: float,
) -> str:
    if suspects:
        return "suspects"
    if positions and _as_written(copy, ev, risk):
        return "as-written"
    if positions and _binomial_at_most(positions, HERE, agreement) < risk:
        return "not-rendered-here"
    return "insufficient"


def _as_written(copy: Copy, ev: _Evidence, risk: float) -> bool:
    """Every form read is as written and no invisible mark is present, over enough
    positions that a marked copy would look like that with probability below ``risk``."""
    y, p = np.concatenate(ev.y), np.concatenate(ev.p)
    if copy.invisible or (y != 0).any() or not np.concatenate(ev.visible).all():
        return False
    return float(np.log(1 - p).sum()) < math.log(risk)


def _binomial_at_most(n: int, q: float, share: float) -> float:
    """P(Binomial(n, q) <= share * n): how likely a copy from here agrees this little."""
    k = math.floor(share * n + 1e-9)
    if k >= n * q:
        return 1.0
    log_terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
        + i * math.log(q) + (n - i) * math.log(1 - q)
        for i in range(k + 1)
    ]  # fmt: skip
    top = max(log_terms)
    return math.exp(top) * sum(math.exp(t - top) for t in log_terms)


def _more_words(copy: Copy, ev: _Evidence, positions: int, alpha: float) -> int | None:
    """Roughly how many more words of the same kind a lone copier's copy would need."""
    if not positions:
        return None
    p = np.concatenate(ev.p)
    mu = code.mean_guilty(p)
    z = math.sqrt(2 * math.log(1 / alpha))
    needed = (z / mu) ** 2 if mu > 0 else math.inf
    per_word = positions / max(1, copy.words)
    return max(0, math.ceil((needed - positions) / per_word)) if math.isfinite(needed) else None
