"""Leak scans and the violations register as officers see them: checked, audited, marked.

A principal scans against the items they are cleared for and is shown, beside each
article sentence, the item's sentence *as their own copy*: the item is rendered
through the door (``Door.render``: policy, canary marks, one audit record per item),
so a scan is no way around it.  An auditor, who reads no content, scans every item and
is shown hashes, kinds, scores and the article's side only.  Every scan is audited.

A violation's page shows the words of the investigation items and findings on it (the
counterpart's note, each finding's text) the same way: rendered through the door.
Asking the counterpart and answering it are a principal's, for items they are cleared
for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from backchannel.analysis.leaks import sentences
from backchannel.analysis.leaks.page import PageError, decode, read_page
from backchannel.protocol.investigation import VERDICTS, Finding, Investigation, Verdict
from backchannel.protocol.items import MAX_TEXT_CHARS
from backchannel.station.access.door import Door, require
from backchannel.station.access.marking import Marker
from backchannel.station.access.policy import Action, Officer, searchable_by
from backchannel.station.core.audit import Record
from backchannel.station.core.errors import InvalidRequest
from backchannel.station.leaks.service import Hit, Scan, Scans, Violation

MAX_SOURCE_NAME = 2048
MAX_QUERY_CHARS = 500
NO_VIOLATION = "no such violation"

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
class Case:
    """A violation as one officer is shown it: each investigation and finding on it
    (by item hash) as their own copy, rendered through the door; none for an auditor."""

    violation: Violation
    shown: dict[str, Finding | Investigation]


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
        parts = {(d.channel_id, d.item_hash, d.part) for d in scan.items}
        return self._rendered(
            officer, origin, [(d.channel_id, d.item_hash) for d in scan.items], parts
        )

    def _rendered(
        self,
        officer: Officer,
        origin: str,
        items: list[tuple[str, str]],
        parts: set[ItemKey] | None = None,
    ) -> dict[ItemKey, list[str]]:
        """Each item rendered to this officer through the door, by part and sentence;
        of ``parts``, those that are not the item's own texts (a file's words) are
        added for the items rendered, as the index holds them."""  # fmt: skip
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
                    for key in parts or ():
                        if key[:2] == (channel_id, r.entry.envelope_hash) and key not in shown:
                            shown[key] = sentences(station.hooks.held_text("/".join(key)))
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
        parts = {(h.channel_id, h.item_hash, h.part) for h in hits}
        shown = self._rendered(officer, origin, [(h.channel_id, h.item_hash) for h in hits], parts)
        results = []
        for h in hits:
            said = shown.get((h.channel_id, h.item_hash, h.part), [])
            results.append(Result(h, said[h.at] if h.at < len(said) else ""))
        return results

    def violations(self, officer: Officer, origin: str) -> list[Violation]:
        require(officer, Action.SCAN_LEAKS)
        self.scans.investigate_asked()  # never behind what the counterpart asked
        self.door.noted(officer, "violations", origin)
        return self.scans.violations()

    def violation(self, officer: Officer, violation_id: str, origin: str) -> Case:
        """One violation, its investigations and findings, their words through the door."""
        require(officer, Action.SCAN_LEAKS)
        self.scans.investigate_asked()
        violation = self.scans.violation(violation_id)
        named = [(f["channel"], f["item_hash"]) for f in violation.findings]
        named += [(i.channel_id, i.item_hash) for i in violation.investigations if i.item_hash]
        shown = self._items(officer, origin, named) if officer.may(Action.READ_ITEM) else {}
        self.door.noted(officer, "violation", origin, detail=violation_id)
        return Case(violation, shown)

    def _items(
        self, officer: Officer, origin: str, named: list[tuple[str, str]]
    ) -> dict[str, Finding | Investigation]:
        station, shown = self.door.station, {}
        for channel_id in dict.fromkeys(c for c, _h in named):
            with station.db.transaction() as s:
                entries = [station.entry_in(s, c, h) for c, h in named if c == channel_id]
                readable = [e for e in entries if officer.may(Action.READ_ITEM, e.clearances)]
                for r in self.door.render(s, officer, origin, channel_id, readable):
                    if isinstance(r.entry.item, Finding | Investigation):
                        shown[r.entry.envelope_hash] = r.entry.item
        return shown

    def ask(self, officer: Officer, violation_id: str, origin: str, note: str = "") -> list[str]:
        """Send the published text to the counterpart of each channel whose items it
        discloses; the ids of the investigations sent."""
        require(officer, Action.INVESTIGATE_LEAK)
        if len(note) > MAX_TEXT_CHARS:
            raise InvalidRequest(f"the note is longer than {MAX_TEXT_CHARS} characters")
        violation = self.scans.violation(violation_id)
        station = self.door.station
        for i in violation.items:  # cleared for every item it names
            labels = station.entry(i["channel"], i["item_hash"]).clearances
            require(officer, Action.INVESTIGATE_LEAK, labels, hidden=NO_VIOLATION)
        audit = Record(officer.name, "leak-investigate", origin, detail=violation_id)
        return self.scans.ask(violation_id, note.strip(), audit)

    def answer(
        self, officer: Officer, violation_id: str, origin: str, verdict: str, *,
        text: str = "", name_readers: bool = False,
    ) -> Case:  # fmt: skip
        """Our finding on a text the counterpart asked about, sent to it."""
        require(officer, Action.INVESTIGATE_LEAK)
        if verdict not in VERDICTS:
            raise InvalidRequest(f"the finding is one of: {', '.join(VERDICTS)}")
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidRequest(f"the finding's text is longer than {MAX_TEXT_CHARS} characters")
        violation = self.scans.violation(violation_id)
        station = self.door.station
        for i in violation.investigations:
            if i.direction == "in":
                labels = station.entry(i.channel_id, i.item_hash).clearances
                require(officer, Action.INVESTIGATE_LEAK, labels, hidden=NO_VIOLATION)
        audit = Record(officer.name, "leak-finding", origin, detail=violation_id)
        chosen: Verdict = next(v for v in VERDICTS if v == verdict)
        self.scans.answer(violation_id, chosen, text.strip(), name_readers, audit)
        return self.violation(officer, violation_id, origin)


async def leak_desk_of(request: Request) -> LeakDesk:
    desk: LeakDesk = request.app.state.leak_desk
    return desk


LeakDeskDep = Annotated[LeakDesk, Depends(leak_desk_of)]
