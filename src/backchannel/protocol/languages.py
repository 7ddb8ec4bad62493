"""Texts in several languages: BCP 47 tags, and which of the texts are authoritative.

An item's text may be given in several languages, each tagged with a BCP 47 tag
(RFC 5646: a language, then optionally a script, a region and variants, such as
``en``, ``uk``, ``sr-Latn`` or ``en-GB``), with a statement of which texts are
authoritative: ``same-force`` (all texts have the same force, as treaties say) or the
tag of the one text that prevails.  One text alone needs no statement.

Two checks, for two kinds of caller.  The wire accepts any *well-formed* tag, so that
an item in a language the peer knows and we do not still decodes (``check_texts``);
an officer writes only in a *known* language, one whose primary subtag is an ISO 639-1
code (``known``, table in ``language_names.py``).  Extensions and private-use
subtags (``-u-``, ``-x-``) are refused: a tag names a language, nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import msgspec

from .language_names import NAMES

SAME_FORCE = "same-force"
MAX_LANGUAGES = 4  # texts of one item
MAX_TAG_CHARS = 35
# The texts of one item together: with room left for the rest under MAX_ITEM_BYTES.
MAX_TEXTS_BYTES = 160 * 1024
_SUBTAG = re.compile(r"[A-Za-z0-9]{1,8}")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}")
_SCRIPT = re.compile(r"[A-Za-z]{4}")
_REGION = re.compile(r"[A-Za-z]{2}|[0-9]{3}")
_VARIANT = re.compile(r"[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}")


class Text(msgspec.Struct, array_like=True, frozen=True):
    """One text of an item in one language."""

    language: str
    text: str


def canonical(tag: str) -> str:
    """The tag in its canonical case (``sr-latn-rs`` -> ``sr-Latn-RS``); ValueError
    with a one-line reason if it is not a well-formed tag."""
    parts = tag.split("-")
    if len(tag) > MAX_TAG_CHARS or not all(_SUBTAG.fullmatch(p) for p in parts):
        raise ValueError(f"language {tag[:40]!r} is not a BCP 47 tag such as 'en' or 'uk'")
    if not _LANGUAGE.fullmatch(parts[0]):
        raise ValueError(f"language {tag[:40]!r} is not a BCP 47 tag such as 'en' or 'uk'")
    out, rest = [parts[0].lower()], parts[1:]
    if rest and _SCRIPT.fullmatch(rest[0]):
        out.append(rest.pop(0).title())
    if rest and _REGION.fullmatch(rest[0]):
        out.append(rest.pop(0).upper())
    while rest and _VARIANT.fullmatch(rest[0]):
        out.append(rest.pop(0).lower())
    if rest:
        raise ValueError(
            f"language {tag[:40]!r} is not a BCP 47 tag such as 'en' or 'uk' "
            "(a language, then a script, a region and variants; no extensions)"
        )
    return "-".join(out)


def known(tag: str) -> str:
    """The canonical tag, if it is well-formed and names a language we know by name."""
    tag = canonical(tag.strip())
    if primary(tag) not in NAMES:
        raise ValueError(
            f"language {tag!r} is not one this station knows: its first part is an "
            "ISO 639-1 code such as 'en', 'uk' or 'fr'"
        )
    return tag


def primary(tag: str) -> str:
    return tag.split("-", maxsplit=1)[0].lower()


def name(tag: str) -> str:
    """What a person calls the language: "Ukrainian", "English (en-GB)"."""
    called = NAMES.get(primary(tag))
    if called is None:
        return tag
    return called if "-" not in tag else f"{called} ({tag})"


def same(a: str, b: str) -> bool:
    """Whether two tags name the same language (their case aside)."""
    return a.lower() == b.lower()


def check_texts(texts: Sequence[Text], authority: str, *, max_chars: int, what: str) -> None:
    """Raise ValueError (one line) unless these texts of one item are well formed:
    1 to MAX_LANGUAGES texts, each in its own well-formed language, none empty or too
    long, and an authority statement that names ``same-force`` or one of the texts."""
    if not 1 <= len(texts) <= MAX_LANGUAGES:
        raise ValueError(f"a {what} is given in 1 to {MAX_LANGUAGES} languages")
    tags = [canonical(t.language).lower() for t in texts]
    if len(set(tags)) != len(tags):
        raise ValueError(f"a {what} gives each language once (a language is repeated)")
    for t in texts:
        if not t.text.strip():
            raise ValueError(f"{what} text is empty" + _in(texts, t))
        if len(t.text) > max_chars:
            raise ValueError(f"{what} text is longer than {max_chars} characters" + _in(texts, t))
    if sum(len(t.text.encode("utf-8", "surrogatepass")) for t in texts) > MAX_TEXTS_BYTES:
        raise ValueError(f"the texts of a {what} are more than {MAX_TEXTS_BYTES} bytes together")
    check_authority(tags, authority, what)


def check_authority(tags: Sequence[str], authority: str, what: str) -> None:
    if len(tags) == 1:
        if authority and not same(authority, tags[0]):
            raise ValueError(f"a {what} in one language has no other text to prevail")
        return
    if authority == SAME_FORCE or any(same(authority, t) for t in tags):
        return
    if not authority:
        raise ValueError(
            f"a {what} in several languages says which text is authoritative: "
            f"{SAME_FORCE!r} or the language of the text that prevails"
        )
    raise ValueError(
        f"the authority {authority[:40]!r} names no language this {what} is given in "
        f"({', '.join(tags)}); say {SAME_FORCE!r} or one of them"
    )


def authority_line(texts: Sequence[Text], authority: str) -> str:
    """The statement in words, for the reader: "" for one text."""
    if len(texts) < 2:
        return ""
    if authority == SAME_FORCE:
        names = [name(t.language) for t in texts]
        listed = ", ".join(names[:-1]) + " and " + names[-1]
        return f"the {listed} texts have the same force"
    return f"the {name(authority)} text prevails"


def choose(texts: Sequence[Text], preferred: Sequence[str]) -> int:
    """Which text a reader who prefers these languages (most preferred first) is shown
    first: the first preference any text matches, exactly or by its primary language;
    the first text if none does."""
    for want in preferred:
        for exact in (True, False):
            for i, t in enumerate(texts):
                if same(t.language, want) or (not exact and primary(t.language) == primary(want)):
                    return i
    return 0


def _in(texts: Sequence[Text], t: Text) -> str:
    return f" (its {t.language[:12]} text)" if len(texts) > 1 else ""
