"""A leaked copy as text: HTML reduced to what a reader sees, the invisible marks kept.

Entities are decoded (``&#8203;`` is a zero-width space), scripts, styles and
templates are dropped, and block elements end a line.  Nothing else is cleaned:
whatever a reader's browser would copy, the marks reader sees.  The parser is the
standard library's, which does not recurse: nesting costs nothing; the caller caps
the size.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "tr",
        "td",
        "th",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "header",
        "footer",
        "blockquote",
        "pre",
    ]
)
_HIDDEN = frozenset({"script", "style", "template", "noscript", "head"})
_LOOKS_HTML = re.compile(r"^\s*(?:<!doctype html|<html|<body|<p[\s>]|<div[\s>]|<article)", re.I)


def looks_like_html(raw: str) -> bool:
    return bool(_LOOKS_HTML.match(raw[:2048]))


def text_of(raw: str) -> str:
    """The copy as plain text: HTML reduced, plain text as it is."""
    return _Text.of(raw) if looks_like_html(raw) else raw


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.hidden = 0

    @classmethod
    def of(cls, raw: str) -> str:
        parser = cls()
        parser.feed(raw)
        parser.close()
        return "".join(parser.out)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
        if tag in _BLOCK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN and self.hidden:
            self.hidden -= 1
        if tag in _BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.out.append(data)
