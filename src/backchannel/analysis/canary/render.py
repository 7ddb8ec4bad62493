"""A reader's copy: the authoritative text with the forms and invisible marks their bits say."""

from __future__ import annotations

from backchannel.analysis.canary.layout import ONE, ZERO, Layout


def render(lay: Layout, chosen: list[int] | tuple[int, ...]) -> str:
    """The text with site ``k`` in its other form where ``chosen[k]`` is 1, and two
    zero-width characters at each slot (``chosen[sites + 2j]`` and the next)."""
    text, n = lay.text, len(lay.sites)
    edits: list[tuple[int, int, str]] = [
        (s.start, s.end, s.other) for s, bit in zip(lay.sites, chosen, strict=False) if bit
    ]
    for j, slot in enumerate(lay.slots):
        a, b = chosen[n + 2 * j], chosen[n + 2 * j + 1]
        edits.append((slot.at, slot.at, (ONE if a else ZERO) + (ONE if b else ZERO)))
    edits.sort(key=lambda e: (e[0], e[1]))
    out, at = [], 0
    for start, end, insert in edits:
        out += [text[at:start], insert]
        at = max(at, end)
    out.append(text[at:])
    return "".join(out)
