"""Scans of published texts against the station's archive, and the violations register.

A scan reads the page (``analysis.leaks.page``), first catches the index up (saying how
far behind it was), matches the main text against every item of every channel, both
directions, and gives each disclosed item with its disclosure state: ``released`` is
no violation, anything else is.  The page as a reader would copy it (invisible marks
kept) goes to the canary attribution.  A scan that finds a violation is recorded in
the register, sealed.  What an officer is shown of it is the desk's business.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from backchannel.analysis import canary, leaks
from backchannel.analysis.leaks.page import Page
from backchannel.station.access.marking import Marker
from backchannel.station.core.errors import InvalidRequest
from backchannel.station.core.ledger import Ledger
from backchannel.station.core.records import Entry
from backchannel.station.leaks.indexer import Indexer, Lag
from backchannel.store.leaks import ViolationRow

MayRead = Callable[[tuple[str, ...]], bool]
# The canary attribution of a copy (the canary feature's, handed in by the assembly).
Attribute = Callable[[str, MayRead, float], canary.Report]
STATUSES = ("open", "under-investigation", "answered")
SEARCH_RESULTS = 20


@dataclass(frozen=True)
class Disclosed:
    """One item the page discloses, as found (the evidence holds the texts as written)."""

    channel_id: str
    item_hash: str
    part: str
    item_type: str
    kind: str  # verbatim | paraphrase | gist
    score: float
    disclosure: str  # confidential, release-requested, released, release-declined
    direction: str
    clearances: tuple[str, ...]
    evidence: tuple[leaks.Evidence, ...]

    @property
    def violation(self) -> bool:
        return self.disclosure != "released"


@dataclass(frozen=True)
class Hit:
    """One item an archive search finds: which sentence, how close (no text: the desk
    shows it through the door)."""

    channel_id: str
    item_hash: str
    part: str
    item_type: str
    at: int
    score: float
    created_at: float


@dataclass(frozen=True)
class Scan:
    source: str
    title: str
    date: str
    notes: tuple[str, ...]
    lag: Lag  # how far behind the index was when the scan began
    caught_up: int  # items the scan read into the index first
    items: list[Disclosed]
    attribution: canary.Report | None
    violation_id: str = ""
    findings: list[dict[str, str]] = field(default_factory=list)

    @property
    def violation(self) -> bool:
        return any(d.violation for d in self.items)


class Scans:
    def __init__(self, station: Ledger, indexer: Indexer, attribute: Attribute) -> None:
        self.station, self.indexer, self.attribute = station, indexer, attribute

    def scan(self, page: Page, source: str, may_read: MayRead, risk: float = canary.RISK) -> Scan:
        lag = self.indexer.lag()
        caught_up = self.indexer.catch_up() if lag.behind else 0
        english = not page.notes or "English" not in " ".join(page.notes)
        limits = leaks.Thresholds(semantic=english)
        article = self.indexer.article(page.text)
        texts = _Texts(self.station)
        with self.indexer.reading() as index:
            aligned = leaks.scan(article, index, texts.text_of, limits)
        found = [texts.disclosed(a) for a in aligned if a.kind]
        items = [d for d in found if may_read(d.clearances)]
        report = self.attribute(page.marked, may_read, risk) if items else None
        scan = Scan(source, page.title, page.date, page.notes, lag, caught_up, items, report)
        return self._recorded(scan) if scan.violation else scan

    def search(self, query: str, may_read: MayRead, limit: int = SEARCH_RESULTS) -> list[Hit]:
        """The items closest to a query, among those ``may_read`` allows, best first."""
        if self.indexer.lag().behind:
            self.indexer.catch_up()
        article = self.indexer.article(query)
        with self.indexer.reading() as index:
            found = leaks.search(article, index, 4 * limit)
        texts, hits = _Texts(self.station), []
        for f in found:
            channel_id, item_hash, part = f.doc.split("/", 2)
            e = texts.entry(channel_id, item_hash)
            if may_read(e.clearances):
                kind = self.station.hooks.item(e.item_type).name
                hits.append(Hit(channel_id, item_hash, part, kind, f.at, f.score, e.created_at))
        return hits[:limit]

    def _recorded(self, scan: Scan) -> Scan:
        violation_id = secrets.token_hex(8)
        row = ViolationRow(
            violation_id=violation_id, recorded_at=self.station.clock(), status="open",
            report=json.dumps(register_entry(scan)), findings="[]",
        )  # fmt: skip
        with self.station.db.transaction() as s:
            s.add(row)
        return dataclasses.replace(scan, violation_id=violation_id)

    def violations(self) -> list[Violation]:
        with self.station.db.reading() as s:
            rows = s.query(ViolationRow).order_by(ViolationRow.recorded_at.desc()).all()
            return [_violation(r) for r in rows]

    def violation(self, violation_id: str) -> Violation:
        with self.station.db.reading() as s:
            row = s.get(ViolationRow, violation_id)
            if row is None:
                raise InvalidRequest("no such violation")
            return _violation(row)

    def add_finding(self, violation_id: str, finding: dict[str, str], status: str) -> Violation:
        with self.station.db.transaction() as s:
            row = s.get(ViolationRow, violation_id)
            if row is None:
                raise InvalidRequest("no such violation")
            row.findings = json.dumps([*json.loads(row.findings), finding])
            row.status = status
            return _violation(row)


@dataclass(frozen=True)
class Violation:
    violation_id: str
    recorded_at: float
    status: str
    report: dict[str, object]  # register_entry of the scan
    findings: list[dict[str, str]]


def _violation(row: ViolationRow) -> Violation:
    return Violation(
        row.violation_id, row.recorded_at, row.status, json.loads(row.report),
        json.loads(row.findings),
    )  # fmt: skip


def register_entry(scan: Scan) -> dict[str, object]:
    """What the register keeps of a scan: the article named, the items, no item text."""
    report = scan.attribution
    return {
        "source": scan.source, "title": scan.title, "date": scan.date,
        "items": [
            {"channel": d.channel_id, "item_hash": d.item_hash, "part": d.part,
             "kind": d.kind, "score": d.score, "disclosure": d.disclosure}
            for d in scan.items
        ],
        "attribution": attribution_summary(report),
    }  # fmt: skip


def attribution_summary(report: canary.Report | None) -> dict[str, object]:
    if report is None:
        return {"verdict": "not run"}
    return {
        "verdict": report.verdict,
        "suspects": [s.reader for s in report.suspects],
        "items": len(report.found),
    }


class _Texts:
    """The texts of the items a scan aligns, read once each."""

    def __init__(self, station: Ledger) -> None:
        self.station = station
        self._entries: dict[tuple[str, str], Entry] = {}

    def entry(self, channel_id: str, item_hash: str) -> Entry:
        key = (channel_id, item_hash)
        if key not in self._entries:
            self._entries[key] = self.station.entry(channel_id, item_hash)
        return self._entries[key]

    def text_of(self, doc: str) -> str:
        channel_id, item_hash, part = doc.split("/", 2)
        e = self.entry(channel_id, item_hash)
        hooks = self.station.hooks.item(e.item_type)
        for which, text, _language in Marker.texts(hooks, e.item):
            if which == part:
                return text
        return ""

    def disclosed(self, a: leaks.Alignment) -> Disclosed:
        channel_id, item_hash, part = a.doc.split("/", 2)
        e = self.entry(channel_id, item_hash)
        return Disclosed(
            channel_id, item_hash, part, self.station.hooks.item(e.item_type).name, a.kind,
            a.score, e.disclosure, e.direction, e.clearances, a.evidence,
        )  # fmt: skip
