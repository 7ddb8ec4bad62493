"""Joint investigation of a leak: one station asks, the other answers with a finding.

A principal whose scan found a published text disclosing items of a channel sends the
counterpart an *investigation*: the text as published (its main text, and the copy a
reader would have taken, with whatever invisible marks it carries), where it was
published, and the transcript hashes of the items the scan found.  Both stations hold
the same hashes, so the counterpart looks them up in its own transcript.  The
counterpart's principal answers with a *finding*: the copies are not theirs, a copy
was rendered at their station, or it is under investigation, with free text and, only
if the principal chooses, the names of readers.

The published text is public already: neither item marks it or indexes it as an item
of the archive.  Nothing here is signed: like every other item, both are deniable.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec

from .items import MAX_TEXT_CHARS, Hash, Item, register_item_type

InvestigationId = Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
Verdict = Literal["not-ours", "rendered-here", "under-investigation"]
VERDICTS: tuple[Verdict, ...] = ("not-ours", "rendered-here", "under-investigation")
MAX_ARTICLE_CHARS = 60_000  # main text and copy each: both fit in one item
MAX_SOURCE_CHARS = 2048
MAX_TITLE_CHARS = 300
MAX_NAMED_ITEMS = 64
MAX_READERS = 16
MAX_READER_CHARS = 64


class Investigation(Item, frozen=True):
    """A published text, and the items our scan found it disclosing."""

    item_type: ClassVar[str] = "investigation"

    investigation_id: InvestigationId
    source: str  # a URL or "pasted text"
    title: str
    date: str  # as the page gives it, or ""
    text: str  # the main text
    items: tuple[Hash, ...]
    copy: str = ""  # the page as a reader copies it, if it differs from the main text
    note: str = ""  # the principal's covering note

    def validate(self) -> None:
        if not self.text.strip():
            raise ValueError("the investigation carries no text")
        for what, value, limit in (
            ("text", self.text, MAX_ARTICLE_CHARS), ("copy", self.copy, MAX_ARTICLE_CHARS),
            ("source", self.source, MAX_SOURCE_CHARS), ("title", self.title, MAX_TITLE_CHARS),
            ("date", self.date, 40), ("note", self.note, MAX_TEXT_CHARS),
        ):  # fmt: skip
            if len(value) > limit:
                raise ValueError(f"the investigation's {what} is longer than {limit} characters")
        if not 1 <= len(self.items) <= MAX_NAMED_ITEMS:
            raise ValueError(f"an investigation names 1 to {MAX_NAMED_ITEMS} items")
        if len(set(self.items)) != len(self.items):
            raise ValueError("an investigation names each item once")


class Finding(Item, frozen=True):
    """A station's answer to an investigation."""

    item_type: ClassVar[str] = "finding"

    investigation_id: InvestigationId
    verdict: Verdict
    text: str = ""
    readers: tuple[str, ...] = ()  # named only if the principal chose to

    def validate(self) -> None:
        if len(self.text) > MAX_TEXT_CHARS:
            raise ValueError(f"the finding's text is longer than {MAX_TEXT_CHARS} characters")
        if len(self.readers) > MAX_READERS:
            raise ValueError(f"a finding names at most {MAX_READERS} readers")
        if any(not r.strip() or len(r) > MAX_READER_CHARS for r in self.readers):
            raise ValueError(f"a reader's name is 1 to {MAX_READER_CHARS} characters")


for _cls in (Investigation, Finding):
    register_item_type(_cls)
