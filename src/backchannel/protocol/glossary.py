"""The channel glossary: terms with the renderings both sides agreed in each language.

One side *proposes* terms (each an id and its rendering in two or more languages); the
other *answers* once, naming the terms it accepts: those are agreed, the rest are
declined.  A later proposal may give an agreed term's id new renderings; once that
is accepted, it replaces the earlier one.  Both stations fold the same items in the
same order (an answer always follows its proposal), so they hold the same glossary.

``flags`` is what the station checks before an officer's text in several languages
goes out: a term whose agreed rendering appears in one text while the agreed
rendering in the other text's language does not.  Matching is plain and local: the
texts and renderings are compared case-folded (NFKC, typographic apostrophes as '),
and a rendering is found where it starts a word, so that an inflected ending
("перемир'ям") still matches.  Nothing is translated, and nothing leaves the station.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, ClassVar

import msgspec

from .items import Item, register_item_type
from .languages import MAX_LANGUAGES, Text, canonical, name, same

ProposalId = Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
MAX_TERMS = 50
MAX_RENDERING_CHARS = 200
MAX_NOTE_CHARS = 2000
TERM_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,47}")


class Term(msgspec.Struct, array_like=True, frozen=True):
    """One term: an id unique in its proposal, and its rendering in each language."""

    id: str
    renderings: tuple[Text, ...]

    def check(self) -> None:
        if not TERM_ID.fullmatch(self.id):
            raise ValueError(
                f"term id {self.id[:48]!r} is 1-48 lower-case letters, digits, '.', '_' or '-'"
            )
        if not 2 <= len(self.renderings) <= MAX_LANGUAGES:
            raise ValueError(
                f"term {self.id}: give its rendering in 2 to {MAX_LANGUAGES} languages"
            )
        tags = [canonical(r.language).lower() for r in self.renderings]
        if len(set(tags)) != len(tags):
            raise ValueError(f"term {self.id}: each language once (a language is repeated)")
        for r in self.renderings:
            words = " ".join(r.text.split())
            if not words or words != r.text or len(words) > MAX_RENDERING_CHARS:
                raise ValueError(
                    f"term {self.id}: a rendering is one line of 1 to {MAX_RENDERING_CHARS} "
                    "characters, without extra spaces"
                )
            if not r.text.isprintable():
                raise ValueError(f"term {self.id}: a rendering is printable text")

    def rendering(self, language: str) -> str:
        """Its rendering in that language, or ""."""
        return next((r.text for r in self.renderings if same(r.language, language)), "")


class GlossaryProposal(Item, frozen=True):
    """Terms proposed for the channel glossary."""

    item_type: ClassVar[str] = "glossary-proposal"

    proposal_id: ProposalId
    terms: tuple[Term, ...]
    note: str = ""

    def validate(self) -> None:
        if not 1 <= len(self.terms) <= MAX_TERMS:
            raise ValueError(f"a glossary proposal has 1 to {MAX_TERMS} terms")
        for term in self.terms:
            term.check()
        ids = [t.id for t in self.terms]
        if len(set(ids)) != len(ids):
            raise ValueError("term ids are unique in a glossary proposal")
        if len(self.note) > MAX_NOTE_CHARS:
            raise ValueError(f"the note is longer than {MAX_NOTE_CHARS} characters")


class GlossaryAnswer(Item, frozen=True):
    """The answer to a glossary proposal: the terms accepted; every other is declined."""

    item_type: ClassVar[str] = "glossary-answer"

    proposal_id: ProposalId
    accepted: tuple[str, ...] = ()
    note: str = ""

    def validate(self) -> None:
        if len(self.accepted) > MAX_TERMS or len(set(self.accepted)) != len(self.accepted):
            raise ValueError(f"an answer accepts at most {MAX_TERMS} terms, each once")
        if any(not TERM_ID.fullmatch(t) for t in self.accepted):
            raise ValueError("an answer names terms by their ids")
        if len(self.note) > MAX_NOTE_CHARS:
            raise ValueError(f"the note is longer than {MAX_NOTE_CHARS} characters")


for _cls in (GlossaryProposal, GlossaryAnswer):
    register_item_type(_cls)


@dataclass(frozen=True)
class Flag:
    """A term found in one text whose agreed rendering is missing from another."""

    term: str
    found: Text  # the rendering found, in the language of the text it was found in
    missing: Text  # the agreed rendering not found, in the other text's language

    def __str__(self) -> str:
        return (
            f"glossary term {self.term}: “{self.found.text}” is in the "
            f"{name(self.found.language)} text, but its agreed rendering "
            f"“{self.missing.text}” is not in the {name(self.missing.language)} text"
        )


def flags(texts: Sequence[Text], terms: Iterable[Term]) -> list[Flag]:
    """Every agreed term one of these texts uses without its rendering in another."""
    found: list[Flag] = []
    folded = [(t.language, fold(t.text)) for t in texts]
    for term in terms:
        for language, text in folded:
            mine = term.rendering(language)
            if not mine or not _has(text, fold(mine)):
                continue
            for other, other_text in folded:
                theirs = term.rendering(other)
                if other is not language and theirs and not _has(other_text, fold(theirs)):
                    found.append(Flag(term.id, Text(language, mine), Text(other, theirs)))
    return found


def fold(text: str) -> str:
    """Text as the glossary compares it: NFKC, case-folded, one kind of apostrophe."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return folded.replace("\u2019", "'").replace("\u02bc", "'")


def _has(text: str, rendering: str) -> bool:
    """Whether the rendering starts a word of the text (its ending may differ)."""
    return re.search(r"(?<!\w)" + re.escape(rendering), text) is not None
