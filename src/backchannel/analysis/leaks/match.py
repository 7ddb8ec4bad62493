"""What a published text discloses: candidates from the index, then each item aligned.

1. The article is split into sentences; each is embedded and shingled.
2. Candidates are the documents whose sentences share shingles with an article sentence
   (lexical) or lie near one in meaning (semantic), best first, at most ``candidates``.
3. Each candidate is aligned sentence by sentence: every item sentence is paired with
   the article sentence closest in meaning.  From the alignment come
   - ``run``, the longest run of words the article shares with the item, in order;
   - ``coverage``, the share of item sentences the article restates (cosine ≥ ``sentence``);
   - ``top``, the closest single pair;
   - ``gist``, how close any three consecutive article sentences come to the item as a whole;
   - ``specifics``, the share of the item's figures and names (words with a digit, and
     capitalised words inside a sentence) that the article also has.
4. The kind: ``verbatim`` when ``run`` reaches ``run`` words; ``paraphrase`` when the
   coverage and the closest pair are high; ``gist`` when the whole is close and the
   specifics are shared; otherwise the candidate is not disclosed.

The thresholds were tuned on the tuning split of the evaluation set only
(``bench/leakwatch.py --tune``); ``docs/leaks.md`` gives the figures on the test split.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from backchannel.analysis.leaks.index import Hits, LeakIndex
from backchannel.analysis.leaks.text import longest_run, sentences, shingles, words

KINDS = ("verbatim", "paraphrase", "gist")
KEPT_SHARE = 0.1  # a pair sharing less of a row is no evidence worth showing
_NAME = re.compile(r"(?<=[a-z,;:] )[A-Z][\w'-]+")


@dataclass(frozen=True)
class Thresholds:
    run: int = 8
    sentence: float = 0.65
    coverage: float = 0.3
    top: float = 0.7
    gist: float = 0.65
    specifics: float = 0.4
    candidates: int = 24
    near: int = 8  # semantic neighbours looked up per article sentence
    floor: float = 0.5  # a neighbour further than this is no candidate
    lexical: bool = True  # the matchers used: word-for-word reuse, and meaning
    semantic: bool = True


@dataclass(frozen=True)
class Evidence:
    article: str
    item: str
    at: int  # which sentence of the item
    similarity: float
    shared: float  # the share of the item sentence's shingles the article sentence has


@dataclass(frozen=True)
class Alignment:
    """One candidate document against the article: the measures of step 3 and the kind."""

    doc: str
    kind: str  # one of KINDS, or "" when not disclosed
    score: float
    run: int
    coverage: float
    top: float
    gist: float
    specifics: float
    evidence: tuple[Evidence, ...] = field(default=())


@dataclass(frozen=True)
class Article:
    sentences: list[str]
    spoken: list[list[str]]  # each sentence's words
    vectors: np.ndarray
    shingles: list[np.ndarray]


Embed = Callable[[list[str]], np.ndarray]
TextOf = Callable[[str], str]


def read_article(text: str, embed: Embed, key: bytes) -> Article:
    said = sentences(text)
    spoken = [words(s) for s in said]
    return Article(said, spoken, embed(said), [shingles(s, key) for s in spoken])


def scan(
    article: Article, index: LeakIndex, text_of: TextOf, limits: Thresholds = Thresholds()
) -> list[Alignment]:
    """Every candidate document aligned, disclosed ones first (best score first)."""
    if not article.sentences or not index.docs:
        return []
    hits = index.lexical(article.shingles)
    shared, by_doc = _shared(index, hits)
    docs = _candidates(index, article, by_doc, limits)
    everything = np.ones(len(article.sentences), dtype=bool)
    first = {d: _align(article, index, d, text_of, shared, limits, everything) for d in docs}
    return _explained(article, index, text_of, shared, limits, first)


def _explained(
    article: Article,
    index: LeakIndex,
    text_of: TextOf,
    shared: dict[tuple[int, int], float],
    limits: Thresholds,
    first: dict[int, Alignment],
) -> list[Alignment]:
    """Each article sentence counts for the item it is closest to among those found.

    The strongest candidate is taken first; every later one is aligned again on the
    sentences it is closer to than any item already found, and kept only if it is
    still disclosed.  A sibling of a disclosed item (the next offer on the same line,
    a statement in the same boilerplate) no longer borrows its evidence; an article
    disclosing two items keeps both, each on its own sentences.
    """
    claimed = np.full(len(article.sentences), -1.0, dtype=np.float32)
    out: list[Alignment] = []
    for doc in sorted(first, key=lambda d: _strength(first[d])):
        closeness = (article.vectors @ index.vectors(index.rows_of(doc)).T).max(axis=1)
        usable = closeness > claimed
        again = _align(article, index, doc, text_of, shared, limits, usable)
        if again.kind:
            claimed = np.maximum(claimed, closeness)
        out.append(again)
    return sorted(out, key=lambda a: (a.kind == "", -a.score))


def _strength(a: Alignment) -> tuple[int, float, int]:
    return (KINDS.index(a.kind) if a.kind else len(KINDS), -a.score, -a.run)


def _shared(index: LeakIndex, hits: Hits) -> tuple[dict[tuple[int, int], float], dict[int, float]]:
    """(article sentence, row) → the share of the row's shingles the sentence has (the
    pairs sharing at least ``KEPT_SHARE``), and each document's best share."""
    share = hits.shared / np.maximum(index.sizes(hits.row), 1)
    kept = share >= KEPT_SHARE
    pairs = zip(
        hits.query[kept].tolist(), hits.row[kept].tolist(), share[kept].tolist(), strict=True
    )
    docs = index.doc_of(hits.row)
    best = np.zeros(len(index.docs), dtype=np.float32)
    np.maximum.at(best, docs, share.astype(np.float32))
    found = np.flatnonzero(best)
    return {(q, r): s for q, r, s in pairs}, dict(
        zip(found.tolist(), best[found].tolist(), strict=True)
    )


def _candidates(
    index: LeakIndex, article: Article, by_doc: dict[int, float], limits: Thresholds
) -> list[int]:
    best: dict[int, float] = dict(by_doc) if limits.lexical else {}
    if limits.semantic:
        near, sims = index.semantic(article.vectors, limits.near)
        keep = sims >= limits.floor
        for doc, sim in zip(index.doc_of(near[keep]).tolist(), sims[keep].tolist(), strict=True):
            best[doc] = max(best.get(doc, 0.0), sim)
    return sorted(best, key=lambda d: -best[d])[: limits.candidates]


def _align(
    article: Article,
    index: LeakIndex,
    doc: int,
    text_of: TextOf,
    shared: dict[tuple[int, int], float],
    limits: Thresholds,
    usable: np.ndarray,
) -> Alignment:
    """One candidate against the article sentences ``usable`` allows (step 3)."""
    rows = index.rows_of(doc)
    vectors = index.vectors(rows)
    sims = article.vectors @ vectors.T  # article sentences × item sentences
    sims[~usable] = -1.0
    closest, best = sims.argmax(axis=0), sims.max(axis=0)
    text = text_of(index.docs[doc])
    said = sentences(text)
    spoken = [w for s, use in zip(article.spoken, usable.tolist(), strict=True) if use for w in s]
    run = longest_run(spoken, words(text))
    measures = {
        "run": run,
        "coverage": float(np.mean(best >= limits.sentence)),
        "top": float(best.max()),
        "gist": _gist(article.vectors[usable], vectors) if usable.any() else 0.0,
        "specifics": _specifics(text, set(spoken)),
    }
    kind = _kind(measures, limits)
    evidence = _evidence(article, said, rows, closest, best, shared, limits)
    score = max(measures["top"], measures["gist"], min(1.0, run / (2 * limits.run)))
    return Alignment(index.docs[doc], kind, round(score, 3), evidence=evidence, **measures)  # type: ignore[arg-type]


def kind_of(a: Alignment, limits: Thresholds) -> str:
    """The kind an alignment's measures give under other thresholds (for tuning)."""
    measures = {"run": a.run, "coverage": a.coverage, "top": a.top, "gist": a.gist,
                "specifics": a.specifics}  # fmt: skip
    return _kind(measures, limits)


def _kind(m: dict[str, float], limits: Thresholds) -> str:
    if limits.lexical and m["run"] >= limits.run:
        return "verbatim"
    if not limits.semantic:
        return ""
    if m["coverage"] >= limits.coverage and m["top"] >= limits.top:
        return "paraphrase"
    if m["gist"] >= limits.gist and m["specifics"] >= limits.specifics:
        return "gist"
    return ""


def _gist(article: np.ndarray, item: np.ndarray) -> float:
    """The closest any window of three article sentences comes to the item as a whole."""
    whole = item.sum(axis=0)
    whole /= max(float(np.linalg.norm(whole)), 1e-12)
    k = min(3, len(article))
    windows = np.stack([article[i : i + k].sum(axis=0) for i in range(len(article) - k + 1)])
    windows /= np.maximum(np.linalg.norm(windows, axis=1, keepdims=True), 1e-12)
    return float((windows @ whole).max())


def _specifics(text: str, article: set[str]) -> float:
    """The share of the item's figures and names that the article has too."""
    spoken = words(text)
    specific = {w for w in spoken if any(c.isdigit() for c in w)}
    specific |= {w for n in _NAME.findall(text) for w in words(n)}
    if not specific:
        return 0.0
    return len(specific & article) / len(specific)


def _evidence(
    article: Article,
    said: Sequence[str],
    rows: range,
    closest: np.ndarray,
    best: np.ndarray,
    shared: dict[tuple[int, int], float],
    limits: Thresholds,
) -> tuple[Evidence, ...]:
    pairs = []
    for j, row in enumerate(rows):
        if j >= len(said):
            break
        q = int(closest[j])
        share = shared.get((q, row), 0.0)
        if best[j] >= limits.sentence or share >= 0.5:
            evidence = Evidence(
                article.sentences[q], said[j], j, round(float(best[j]), 3), round(share, 3)
            )
            pairs.append(evidence)
    return tuple(pairs)


@dataclass(frozen=True)
class Found:
    """One document an archive search finds: its best sentence and how close it is."""

    doc: str
    at: int  # the sentence of the document, by number
    score: float


def search(query: Article, index: LeakIndex, k: int = 20) -> list[Found]:
    """The documents closest to a query, by meaning and by the words they share (the
    share of the query's shingles a sentence has), best first."""
    if not query.sentences or not index.docs:
        return []
    best: dict[int, tuple[float, int]] = {}
    hits = index.lexical(query.shingles)
    wanted = np.array([max(len(s), 1) for s in query.shingles], dtype=np.float32)
    for q, row, shared in zip(
        hits.query.tolist(), hits.row.tolist(), hits.shared.tolist(), strict=True
    ):
        _keep(best, row, shared / float(wanted[q]))
    near, sims = index.semantic(query.vectors, 4 * k)
    for row, sim in zip(near.ravel().tolist(), sims.ravel().tolist(), strict=True):
        _keep(best, row, sim)
    by_doc: dict[int, tuple[float, int]] = {}
    for row, (value, _) in best.items():
        doc = int(index.doc_of(np.array([row]))[0])
        if value > by_doc.get(doc, (-1.0, 0))[0]:
            by_doc[doc] = (value, row - index.rows_of(doc).start)
    ranked = sorted(by_doc.items(), key=lambda d: -d[1][0])[:k]
    return [Found(index.docs[d], at, round(v, 3)) for d, (v, at) in ranked]


def _keep(best: dict[int, tuple[float, int]], row: int, value: float) -> None:
    if value > best.get(row, (-1.0, 0))[0]:
        best[row] = (value, row)
