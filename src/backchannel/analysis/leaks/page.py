"""A published page as the scan reads it: its main text, title and date, and the raw copy.

HTML is reduced to its main text with trafilatura: navigation, share buttons, "read
more" links and other boilerplate go; the title and the date stay.  The canary marks
are read by the caller from ``marked`` — the page as a browser would copy it, with the
invisible characters that trafilatura may drop — before any of that.

Bad input is refused with one line (``PageError``): bytes that are not text, an empty
page, a page longer than ``MAX_PAGE_BYTES``.  A page that does not look English is
scanned, with a note that only the lexical matcher reads it (the model is English).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from backchannel.analysis.canary.source import looks_like_html, text_of

MAX_PAGE_BYTES = 4 * 1024 * 1024
MAX_TEXT_CHARS = 400_000  # of main text: about 60,000 words
_LETTER = re.compile(r"[^\W\d_]")
MIN_LETTERS = 12  # fewer than a short sentence: nothing to scan (a bare menu, a caption)
_ENGLISH = frozenset((
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "on", "with", "by", "as", "was",
    "be", "this", "from", "at", "are", "it",
))  # fmt: skip


class PageError(ValueError):
    """The source is not a page the scan can read; the message says why in one line."""


@dataclass(frozen=True)
class Page:
    text: str  # the main text
    marked: str  # the text as a reader would copy it, invisible marks kept
    title: str = ""
    date: str = ""
    notes: tuple[str, ...] = field(default=())


def decode(data: bytes) -> str:
    """The bytes of a file or a response as text, or PageError."""
    if len(data) > MAX_PAGE_BYTES:
        raise PageError(f"the page is larger than {MAX_PAGE_BYTES // (1024 * 1024)} MiB")
    if b"\x00" in data[:8192]:
        raise PageError("the source is a binary file, not text or HTML")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError:
            raise PageError("the source is neither UTF-8 nor Windows-1252 text") from None


def read_page(raw: str, html: bool | None = None) -> Page:
    """The page's main text; ``html`` None: decided by how it starts."""
    if len(raw) > MAX_PAGE_BYTES:
        raise PageError(f"the page is larger than {MAX_PAGE_BYTES // (1024 * 1024)} MiB")
    is_html = looks_like_html(raw) if html is None else html
    page = _from_html(raw) if is_html else Page(raw.strip(), raw)
    if len(_LETTER.findall(page.text)) < MIN_LETTERS:
        raise PageError("the page has no text to scan")
    if len(page.text) > MAX_TEXT_CHARS:
        raise PageError(f"the page's text is longer than {MAX_TEXT_CHARS} characters")
    if not _english(page.text):
        note = "the text does not look English: only word-for-word reuse is looked for"
        page = Page(page.text, page.marked, page.title, page.date, (*page.notes, note))
    return page


def _from_html(raw: str) -> Page:
    import trafilatura  # only a scan of HTML needs it

    found = trafilatura.bare_extraction(
        raw, with_metadata=True, include_comments=False, include_tables=True, deduplicate=False
    )
    marked = text_of(raw)
    text = str(getattr(found, "text", "") or "").strip()
    if not text:
        whole = ("no main text was found: the whole page is read",)
        return Page(marked.strip(), marked, notes=whole)
    title, date = getattr(found, "title", ""), getattr(found, "date", "")
    return Page(text, marked, str(title or ""), str(date or ""))


def _english(text: str) -> bool:
    spoken = re.findall(r"[a-z]+", text[:20_000].casefold())
    if len(spoken) < 20:
        return True  # too short to tell
    common = sum(1 for w in spoken if w in _ENGLISH)
    return common / len(spoken) >= 0.08
