"""Where a text can carry marks: its sites (visible variations) and slots (invisible ones).

A **site** is a span of the authoritative text that a table pair can vary: each
rendering shows either the form as written or the table's other form.  A **slot** is
the start of a word after whitespace, where a rendering puts two zero-width
characters.  Nothing is ever varied inside what must stay exact: quoted text, any
whitespace-separated token with a digit or a code-like character in it (times,
coordinates, numbers, references, call signs), words in capitals, and capitalised
words inside a sentence (names).  The layout depends on the text alone, so two
stations find the same sites and slots in the same item.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from backchannel.analysis.canary import tables

MAX_TEXT_CHARS = 256 * 1024  # longer texts are laid out by their first part only
ZERO, ONE = "\u200b", "\u200c"  # zero-width space and non-joiner: the invisible alphabet
INVISIBLE = frozenset({ZERO, ONE, "\u200d", "\u2060", "\ufeff"})
_EDGE = r"(?<![\w'’-])", r"(?![\w'’-])"
_QUOTED = re.compile(r'"[^"\n]{0,2000}"|“[^”]{0,2000}”|«[^»]{0,2000}»')
_CODE_LIKE = re.compile(r"\S*(?:\d|[_/@#\\<>{}\[\]|=+*^~$%&])\S*|(?<![\w-])[A-Z]{2,}(?:-\w+)*")
_CHUNK = re.compile(r"(?<!\S)\S+")
_AROUND = frozenset(".,;:!?()[]")
_TOKEN = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*|\.")
_SENTENCE_END = re.compile(r"(?:^|[.!?:;]\s+|\n\s*)$")


@dataclass(frozen=True)
class Site:
    start: int  # character span of the form as written
    end: int
    written: str  # the form as written (its case kept)
    other: str  # the other form, in the same case
    first_token: int  # index of its first token among the text's tokens
    tokens: tuple[str, ...]  # the written form as tokens
    other_tokens: tuple[str, ...]


@dataclass(frozen=True)
class Slot:
    at: int  # character offset of the word start the marks go before
    token: int  # index of that word among the text's tokens


@dataclass(frozen=True)
class Layout:
    text: str
    tokens: tuple[str, ...]
    sites: tuple[Site, ...]
    slots: tuple[Slot, ...]

    @property
    def visible_bits(self) -> int:
        return len(self.sites)

    @property
    def invisible_bits(self) -> int:
        return 2 * len(self.slots)

    @property
    def words(self) -> int:
        return sum(1 for t in self.tokens if t != ".")


def tokens(text: str) -> list[tuple[str, int, int]]:
    """Word (and full stop) tokens, normalised for comparison, with their spans."""
    return [(normal(m.group()), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def normal(token: str) -> str:
    return unicodedata.normalize("NFKC", token).lower().replace("’", "'")


def tabled(language: str) -> bool:
    """Whether there are variation tables for this language (BCP 47): English only."""
    return language.lower().split("-")[0] == "en"


@functools.lru_cache(maxsize=4096)
def layout(text: str, language: str = "en") -> Layout:
    """Sites only where there are tables for the language; slots in any language."""
    text = text[:MAX_TEXT_CHARS]
    found = tokens(text)
    starts = {start: i for i, (_t, start, _e) in enumerate(found)}
    protected = _protected(text)
    sites = tuple(_sites(text, found, starts, protected)) if tabled(language) else ()
    inside = {i for s in sites for i in range(s.first_token + 1, s.first_token + len(s.tokens))}
    return Layout(
        text,
        tuple(t for t, _s, _e in found),
        sites,
        tuple(_slots(text, found, protected, inside)),
    )


def _protected(text: str) -> list[tuple[int, int]]:
    spans = [m.span() for m in _QUOTED.finditer(text)]
    spans += [m.span() for m in _CODE_LIKE.finditer(text)]
    return sorted(spans)


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(a < end and start < b for a, b in spans)


def _sentence_start(text: str, at: int) -> bool:
    return bool(_SENTENCE_END.search(text[max(0, at - 8) : at])) or at == 0


def _sites(
    text: str,
    found: list[tuple[str, int, int]],
    starts: dict[int, int],
    protected: list[tuple[int, int]],
) -> list[Site]:
    """Table matches, then dates, counts and units (whose figures are protected tokens:
    they may be the site only as a whole, and their value is never changed)."""
    candidates: list[tuple[int, int, str | None]] = [
        (m.start(), m.end(), _other(text, m.group(), m.start()))
        for m in _PATTERN.finditer(text)
        if not _overlaps(protected, *m.span())
    ]
    quoted = [m.span() for m in _QUOTED.finditer(text)]
    for start, end, figure in _figures(text):
        if not _overlaps(quoted, start, end) and not _straddles(text, protected, start, end):
            candidates.append((start, end, figure))
    out, taken = [], 0
    for start, end, other in sorted(candidates, key=lambda c: (c[0], -c[1])):
        if other is None or start < taken or start not in starts:
            continue
        written = text[start:end]
        toks, other_toks = (tuple(t for t, _s, _e in tokens(v)) for v in (written, other))
        out.append(Site(start, end, written, other, starts[start], toks, other_toks))
        taken = end
    return out


def _straddles(text: str, spans: list[tuple[int, int]], start: int, end: int) -> bool:
    """A protected token reaches out of [start, end), not counting the punctuation
    around it (a figure is a site only whole: "2026." ends a date)."""
    for first, last in spans:
        if first < end and start < last:
            token = text[first:last]
            inner = first + len(token) - len(token.lstrip("".join(_AROUND)))
            outer = last - (len(token) - len(token.rstrip("".join(_AROUND))))
            if inner < start or outer > end:
                return True
    return False


def _figures(text: str) -> list[tuple[int, int, str]]:
    out = []
    for m in _DAY_MONTH.finditer(text):
        if not _in_list(text, m.start()):
            day, month, year = m.group("d"), m.group("m"), m.group("y")
            out.append((m.start(), m.end(), f"{month} {day}" + (f", {year}" if year else "")))
    for m in _MONTH_DAY.finditer(text):
        day, month, year = m.group("d"), m.group("m"), m.group("y")
        out.append((m.start(), m.end(), f"{day} {month}" + (f" {year}" if year else "")))
    for m in _COUNT.finditer(text):
        if _counted(text, m):
            value = m.group("n")
            words = tables.NUMBERS
            other = words[int(value) - 2] if value.isdigit() else str(words.index(value) + 2)
            out.append((m.start("n"), m.end("n"), other))
    for m in _BOUND.finditer(text):
        written = m.group("b")
        other = _BOUNDS[written.lower()]
        if written[0].isupper():
            other = other[0].upper() + other[1:]
        out.append((m.start("b"), m.end("b"), other))
    for m in _UNIT.finditer(text):
        out.append((m.start("u"), m.end("u"), _UNITS[m.group("u")]))
    return out


def _in_list(text: str, at: int) -> bool:
    """The day is the last of a list or range ("28, 29 and 30 March", "2 to 5 May")."""
    return bool(
        re.search(
            r"\d(?:st|nd|rd|th)?\s*(?:,|-|–|\band\b|\bor\b|\bto\b)\s*$", text[max(0, at - 12) : at]
        )
    )


def _counted(text: str, m: re.Match[str]) -> bool:
    """A count of things: not a label's number, not before a unit, not in a list."""
    before = text[max(0, m.start() - 30) : m.start()].split()
    after = m.group("w")
    if after in tables.UNIT_WORDS or after in _NOT_COUNTED or not after.islower():
        return False
    if before and (before[-1].lower().strip(".,:;(") in tables.LABELS or before[-1][:1].isupper()):
        return False
    joined = before[-2:] if before and before[-1].lower() == "and" else before[-1:]
    if joined and joined[0].lower() in _NUMBER_WORDS and m.group("n").isalpha():
        return False  # part of a longer number in words ("one hundred and four")
    return not _sentence_start(text, m.start()) and not _in_list(text, m.start())


def _other(text: str, written: str, start: int) -> str | None:
    """The other form of what is written here, or None if it may not vary here."""
    exact = _EXACT.get(written)
    if exact is not None:  # openers and titles: case as listed
        if written in _OPENER_FORMS and not _sentence_start(text, start):
            return None
        return exact
    key = " ".join(written.split())
    if key.islower():
        return _FOLDED.get(key)
    if key[0].isupper() and key[1:].islower() and _sentence_start(text, start):
        other = _FOLDED.get(key.lower())
        return other[0].upper() + other[1:] if other else None
    return None  # capitals inside a sentence: a name, left as written


def _slots(
    text: str,
    found: list[tuple[str, int, int]],
    protected: list[tuple[int, int]],
    inside: set[int],
) -> list[Slot]:
    by_start = {start: i for i, (t, start, _e) in enumerate(found) if t != "."}
    out = []
    for chunk in _CHUNK.finditer(text):
        if chunk.start() == 0 or _overlaps(protected, *chunk.span()):
            continue
        first = next(
            (by_start[i] for i in range(chunk.start(), chunk.end()) if i in by_start), None
        )
        if first is not None and first not in inside:
            out.append(Slot(chunk.start(), first))
    return out


def _pairs() -> dict[str, str]:
    pairs = {a: b for a, b in tables.SYMMETRIC} | {b: a for a, b in tables.SYMMETRIC}
    return pairs | {a: b for a, b in tables.PHRASES}


def _pattern() -> re.Pattern[str]:
    folded = sorted(_FOLDED, key=len, reverse=True)
    words = "|".join(r"\s+".join(map(re.escape, f.split())) for f in folded)
    openers = "|".join(map(re.escape, sorted(_OPENER_FORMS, key=len, reverse=True)))
    titles = "|".join(map(re.escape, sorted(dict(tables.TITLES), key=len, reverse=True)))
    return re.compile(
        rf"{_EDGE[0]}(?:{openers})(?=\s)"
        rf"|(?<![\w.])(?:{titles})(?=\s+[A-Z])"
        rf"|{_EDGE[0]}(?i:{words}){_EDGE[1]}"
    )


_MONTHS = "|".join(tables.MONTHS)
_DAY = r"(?P<d>[1-9]|[12]\d|3[01])"
_YEAR = r"(?P<y>(?:19|20)\d\d)"
_DAY_MONTH = re.compile(
    rf"(?<![\w.,/-]){_DAY} (?P<m>{_MONTHS})(?: {_YEAR})?"
    r"(?![\w/-]| ?[-–] ?\d)"
)
_MONTH_DAY = re.compile(  # "May 4" could be a question ("May 4 trucks pass?"): left out
    rf"(?<![\w.,/-])(?P<m>{_MONTHS.replace('|May', '')}) {_DAY}(?:, {_YEAR})?"
    r"(?![\w/-]|,? ?[-–] ?\d| ?(?:and|to|or) \d)"
)
_NUMBER_FORM = "|".join(tables.NUMBERS)
_COUNT = re.compile(
    rf"(?<![\w.,/'’-])(?P<n>[2-9]|1[012]|{_NUMBER_FORM})(?= (?P<w>[A-Za-z]+)\b)(?![\w-])"
)
_BOUNDS = dict(tables.BOUNDS)
_BOUND = re.compile(rf"(?<![\w-])(?P<b>(?i:{'|'.join(_BOUNDS)})) (?=\d|(?:{_NUMBER_FORM})\b)")
_NOT_COUNTED = frozenset(
    (
        *("to", "and", "or", "of", "in", "at", "on", "by", "for", "per", "from", "hundred"),
        *("thousand", "million", "billion", "dozen", "score", "hundreds", "thousands"),
    )
)
_NUMBER_WORDS = frozenset([*tables.NUMBERS, "one", "hundred", "thousand", "million"])
_UNITS = dict(tables.UNITS)
_UNIT = re.compile(rf"(?<=\d )(?P<u>{'|'.join(_UNITS)})(?![\w/-])")
_FOLDED = _pairs()
_EXACT = dict(tables.OPENERS) | dict(tables.TITLES)
_OPENER_FORMS = frozenset(a for a, _b in tables.OPENERS)
_PATTERN = _pattern()
