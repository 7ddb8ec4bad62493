"""Attribution over the station's archive: the texts it holds and who was shown them how.

The marks themselves are applied by the door (``access/marking.py``); this finds the
items a copy holds among every item with text, reads who was shown each one (and in
which variant) from the audit trail, and hands both to ``analysis.canary.attribute``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from backchannel.analysis import canary
from backchannel.analysis.canary.code import VERSION
from backchannel.station.access.marking import AS_WRITTEN, Marker
from backchannel.station.core.ledger import Ledger
from backchannel.station.core.records import Entry

MAX_RECORDS_PER_ITEM = 100_000


@dataclass(frozen=True)
class Held:
    """One text of one item as this station holds it, and where it is."""

    channel_id: str
    entry: Entry
    kind: str
    part: str
    text: str
    language: str


@dataclass(frozen=True)
class Attribution:
    report: canary.Report
    held: dict[tuple[bytes, str], Held]  # the texts found, by (item, part)


class Attributions:
    def __init__(self, station: Ledger, marker: Marker) -> None:
        self.station, self.marker = station, marker

    def held(self, may_read: Callable[[tuple[str, ...]], bool]) -> Iterator[Held]:
        """Every text of every item of every channel whose labels ``may_read`` allows."""
        with self.station.db.reading() as s:
            channels = [c.channel_id for c in self.station.statuses()]
            for channel_id in channels:
                for e in self.station.transcript_in(s, channel_id, 0):
                    if not may_read(e.clearances):
                        continue
                    hooks = self.station.hooks.item(e.item_type)
                    for part, text, language in self.marker.texts(hooks, e.item):
                        yield Held(channel_id, e, hooks.name, part, text, language)

    def attribute(
        self, raw: str, may_read: Callable[[tuple[str, ...]], bool], risk: float
    ) -> Attribution:
        held = list(self.held(may_read))
        chosen = canary.candidates(raw, [(h.text, h.language) for h in held])
        parts = [self._part(held[i]) for i in chosen]
        report = canary.attribute(raw, parts, self.marker.key, risk)
        found = {(p.item, p.part): held[i] for i, p in zip(chosen, parts, strict=True)}
        return Attribution(report, found)

    def _part(self, h: Held) -> canary.Part:
        """The text with its readers, from the audit records of its renderings."""
        item = bytes.fromhex(h.entry.envelope_hash)
        marked: dict[str, list[int]] = {}
        as_written: dict[str, list[int]] = {}
        for r in self.station.audit.show(item_hash=item, limit=MAX_RECORDS_PER_ITEM):
            if r.record.action != "read":
                continue
            if (
                f"canary {VERSION} " in r.record.detail
            ):  # "canary v1 <tag>", or "proposal, canary …"
                marked.setdefault(r.record.officer, []).append(r.seq)
            elif r.record.detail.endswith(AS_WRITTEN):
                as_written.setdefault(r.record.officer, []).append(r.seq)
        return canary.Part(
            item, h.part, h.text, h.language,
            {k: tuple(v) for k, v in marked.items()}, {k: tuple(v) for k, v in as_written.items()},
        )  # fmt: skip
