"""Leak scans and the violations register as officers see them: checked, audited, marked.

A principal scans against the items they are cleared for and is shown, beside each
article sentence, the item's sentence *as their own copy*: the item is rendered
through the door (``Door.render``: policy, canary marks, one audit record per item),
so a scan is no way around it.  An auditor, who reads no content, scans every item and
is shown hashes, kinds, scores and the article's side only.  Every scan is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from backchannel.analysis.leaks import sentences
from backchannel.analysis.leaks.page import PageError, decode, read_page
from backchannel.station.access.door import Door, require
from backchannel.station.access.marking import Marker
from backchannel.station.access.policy import Action, Officer, searchable_by
from backchannel.station.core.errors import InvalidRequest
from backchannel.station.leaks.service import Hit, Scan, Scans, Violation

MAX_SOURCE_NAME = 2048
MAX_QUERY_CHARS = 500

ItemKey = tuple[str, str, str]  # channel, item hash, part


@dataclass(frozen=True)
class Report:
    """A scan and what of each disclosed item this officer was shown (their own copy's
    sentences, by number; empty for an auditor)."""

    scan: Scan
    shown: dict[ItemKey, list[str]]

    def item_sentence(self, key: ItemKey, at: int) -> str | None:
        said = self.shown.get(key)
        return said[at] if said is not None and at < len(said) else None


@dataclass(frozen=True)
class Result:
    """One search result: the hit, and its sentence as the officer's own copy."""

    hit: Hit
    sentence: str


class LeakDesk:
    def __init__(self, door: Door, scans: Scans) -> None:
        self.door, self.scans = door, scans

    def scan(
        self, officer: Officer, data: bytes | str, source: str, origin: str,
        html: bool | None = None,
    ) -> Report:  # fmt: skip
        require(officer, Action.SCAN_LEAKS)
        try:
            raw = decode(data) if isinstance(data, bytes) else data
            page = read_page(raw, html)
        except PageError as exc:
            raise InvalidRequest(str(exc)) from None
        scan = self.scans.scan(page, source[:MAX_SOURCE_NAME], searchable_by(officer))
        shown = self._shown(officer, origin, scan) if officer.may(Action.READ_ITEM) else {}
        detail = (
            f"{'violation ' + scan.violation_id if scan.violation else 'no violation'}: "
            f"{len(scan.items)} item(s) disclosed"
        )
        self.door.noted(officer, "leak-scan", origin, detail=detail)
        return Report(scan, shown)

    def _shown(self, officer: Officer, origin: str, scan: Scan) -> dict[ItemKey, list[str]]:
        """Each disclosed item rendered to this officer through the door, by sentence."""
        return self._rendered(officer, origin, [(d.channel_id, d.item_hash) for d in scan.items])

    def _rendered(
        self, officer: Officer, origin: str, items: list[tuple[str, str]]
    ) -> dict[ItemKey, list[str]]:
        station = self.door.station
        by_channel: dict[str, list[str]] = {}
        for channel_id, item_hash in items:
            by_channel.setdefault(channel_id, [])
            if item_hash not in by_channel[channel_id]:
                by_channel[channel_id].append(item_hash)
        shown: dict[ItemKey, list[str]] = {}
        for channel_id, hashes in by_channel.items():
            with station.db.transaction() as s:
                entries = [station.entry_in(s, channel_id, h) for h in hashes]
                for r in self.door.render(s, officer, origin, channel_id, entries):
                    hooks = station.hooks.item(r.entry.item_type)
                    for part, text, _language in Marker.texts(hooks, r.entry.item):
                        shown[(channel_id, r.entry.envelope_hash, part)] = sentences(text)
        return shown

    def search(self, officer: Officer, query: str, origin: str) -> list[Result]:
        """The archive searched by words, phrases and meaning: each result the officer's
        own copy of the item's sentence, shown through the door."""
        require(officer, Action.READ_ITEM)
        query = " ".join(query.split())
        if not query:
            raise InvalidRequest("give words to search for")
        if len(query) > MAX_QUERY_CHARS:
            raise InvalidRequest(f"the query is longer than {MAX_QUERY_CHARS} characters")
        hits = self.scans.search(query, lambda labels: officer.may(Action.READ_ITEM, labels))
        shown = self._rendered(officer, origin, [(h.channel_id, h.item_hash) for h in hits])
        results = []
        for h in hits:
            said = shown.get((h.channel_id, h.item_hash, h.part), [])
            results.append(Result(h, said[h.at] if h.at < len(said) else ""))
        return results

    def violations(self, officer: Officer, origin: str) -> list[Violation]:
        require(officer, Action.SCAN_LEAKS)
        self.door.noted(officer, "violations", origin)
        return self.scans.violations()


async def leak_desk_of(request: Request) -> LeakDesk:
    desk: LeakDesk = request.app.state.leak_desk
    return desk


LeakDeskDep = Annotated[LeakDesk, Depends(leak_desk_of)]
