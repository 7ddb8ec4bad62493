"""How browser tests and the screenshot script start Chromium: Debian's, never one a
tool downloads, with the flags that let it run headless on a CI machine."""

from __future__ import annotations

import re
from pathlib import Path

from backchannel.analysis.canary.layout import layout

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def any_copy(text: str) -> re.Pattern[str]:
    """Any reader's copy of ``text``: each site in either form, invisible marks at word
    starts (what a page shows an officer who did not write it; docs/canary.md)."""
    lay = layout(text)
    parts, at = [], 0
    for site in lay.sites:
        parts += [_words(text[at : site.start]), f"(?:{_words(site.written)}|{_words(site.other)})"]
        at = site.end
    parts.append(_words(text[at:]))
    return re.compile("[\u200b\u200c]*".join(parts))


def _words(text: str) -> str:
    """The text as a pattern, an invisible mark allowed between any two characters."""
    return "[\u200b\u200c]*".join(r"\s+" if c.isspace() else re.escape(c) for c in text)
