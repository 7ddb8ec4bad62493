"""Scans of published texts against the station's archive, and the violations register.

A scan reads the page (``analysis.leaks.page``), first catches the index up (saying how
far behind it was), matches the main text against every item of every channel, both
directions, and gives each disclosed item with its disclosure state: ``released`` is
no violation, anything else is.  The page as a reader would copy it (invisible marks
kept) goes to the canary attribution.  A scan that finds a violation is recorded in
the register, sealed, with the page's text.

A joint investigation (``protocol/investigation.py``) sends that text to the
counterpart of a channel; the counterpart's station scans it against its own archive
behind delivery (``keep_up``, from the index watch), runs its own attribution, and
records the result in its own register for its principal to answer.  What an officer
is shown of any of it is the desk's business.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from backchannel.analysis import canary, leaks
from backchannel.analysis.leaks.page import Page, PageError, read_page
from backchannel.protocol.errors import LocalProtocolError
from backchannel.protocol.investigation import (
    MAX_ARTICLE_CHARS,
    MAX_SOURCE_CHARS,
    MAX_TITLE_CHARS,
    Finding,
    Investigation,
    Verdict,
)
from backchannel.protocol.items import encode_item
from backchannel.station.access.marking import Marker
from backchannel.station.core.audit import Record
from backchannel.station.core.errors import InvalidRequest
from backchannel.station.core.ledger import Ledger
from backchannel.station.core.records import Entry
from backchannel.station.leaks.indexer import Indexer, Lag
from backchannel.store.leaks import InvestigationRow, ViolationRow

MayRead = Callable[[tuple[str, ...]], bool]
# The canary attribution of a copy (the canary feature's, handed in by the assembly).
Attribute = Callable[[str, MayRead, float], canary.Report]
# open: found by our scan; investigating: we asked the counterpart; to-answer: the
# counterpart asked us; under-investigation, answered: after a finding.
STATUSES = ("open", "investigating", "to-answer", "under-investigation", "answered")
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
        self._investigating = threading.Lock()

    def scan(self, page: Page, source: str, may_read: MayRead, risk: float = canary.RISK) -> Scan:
        scan = self._scan(page, source, may_read, risk)
        return self._recorded(scan, page, "open") if scan.violation else scan

    def _scan(self, page: Page, source: str, may_read: MayRead, risk: float) -> Scan:
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
        return Scan(source, page.title, page.date, page.notes, lag, caught_up, items, report)

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

    def _recorded(
        self, scan: Scan, page: Page, status: str, asked: InvestigationRow | None = None
    ) -> Scan:
        """The scan in the register (with the page's text, to send on), and the
        investigation that asked for it, if one did, tied to it in the same commit."""
        violation_id = secrets.token_hex(8)
        entry = register_entry(scan)
        if asked is not None:
            entry["asked"] = {"channel": asked.channel_id, "item_hash": asked.item_hash}
        article = {"text": page.text, "copy": page.marked if page.marked != page.text else ""}
        row = ViolationRow(
            violation_id=violation_id, recorded_at=self.station.clock(), status=status,
            report=json.dumps(entry), findings="[]", article=json.dumps(article),
        )  # fmt: skip
        with self.station.db.transaction() as s:
            if asked is not None:
                held = s.get(InvestigationRow, asked.investigation_id)
                if held is None or held.violation_id:  # another process scanned it first
                    return scan
                held.violation_id, held.state = violation_id, "scanned"
            s.add(row)
        return dataclasses.replace(scan, violation_id=violation_id)

    # -- joint investigation -----------------------------------------------------------

    def keep_up(self) -> None:
        """What the index watch does each pass: catch the index up, then scan what the
        counterpart asked us to investigate."""
        self.indexer.catch_up()
        self.investigate_asked()

    def investigate_asked(self) -> int:
        """Scan every text a counterpart sent for investigation and not scanned yet (the
        watch and a page may both ask: one scans, the other finds it done)."""
        with self._investigating:
            with self.station.db.reading() as s:
                query = s.query(InvestigationRow).filter_by(direction="in", violation_id="")
                asked = query.order_by(InvestigationRow.recorded_at).all()
                s.expunge_all()
            for row in asked:
                self._investigate(row)
            return len(asked)

    def _investigate(self, row: InvestigationRow) -> None:
        item = self.station.entry(row.channel_id, row.item_hash).item
        assert isinstance(item, Investigation)
        try:
            read = read_page(item.text, html=False)
        except PageError as exc:  # none the scan can read: recorded, to be answered
            page = Page(item.text, item.copy, item.title, item.date, (str(exc),))
            scan = Scan(item.source, item.title, item.date, page.notes, self.indexer.lag(), 0, [],
                        None)  # fmt: skip
        else:
            page = Page(read.text, item.copy or read.text, item.title, item.date, read.notes)
            scan = self._scan(page, item.source, lambda _labels: True, canary.RISK)
        self._recorded(scan, page, "to-answer", row)

    def ask(self, violation_id: str, note: str, audit: Record) -> list[str]:
        """Send the counterpart of each channel the violation's items belong to the
        text and the items of its channel; the ids of the investigations sent."""
        violation = self.violation(violation_id)
        if violation.status == "to-answer" or "asked" in violation.report:
            raise InvalidRequest("the counterpart asked about this text: answer it instead")
        article = self._article(violation_id)
        by_channel: dict[str, list[str]] = {}
        for i in violation.items:
            by_channel.setdefault(i["channel"], []).append(i["item_hash"])
        asked = {i.channel_id for i in violation.investigations if i.direction == "out"}
        if not set(by_channel) - asked:
            raise InvalidRequest("the counterpart has been asked about this violation already")
        sent = []
        for channel_id, hashes in by_channel.items():
            if channel_id in asked:
                continue
            report = violation.report
            item = Investigation(
                investigation_id=secrets.token_bytes(16),
                source=str(report.get("source", ""))[:MAX_SOURCE_CHARS],
                title=str(report.get("title", ""))[:MAX_TITLE_CHARS],
                date=str(report.get("date", ""))[:40],
                text=article["text"],
                items=tuple(bytes.fromhex(h) for h in dict.fromkeys(hashes)),
                copy=article["copy"] if len(article["copy"]) <= MAX_ARTICLE_CHARS else "",
                note=note,
            )
            sent.append(self._send_investigation(channel_id, violation_id, _fitted(item), audit))
        return sent

    def _article(self, violation_id: str) -> dict[str, str]:
        with self.station.db.reading() as s:
            row = s.get(ViolationRow, violation_id)
            kept = row.article if row is not None else None
        if not kept:
            raise InvalidRequest("this violation was recorded without its text: scan it again")
        article: dict[str, str] = json.loads(kept)
        if len(article["text"]) > MAX_ARTICLE_CHARS:
            raise InvalidRequest(
                f"the text is {len(article['text']):,} characters; an investigation carries at "
                f"most {MAX_ARTICLE_CHARS:,}: scan the passage that matters and ask about that"
            )
        return article

    def _send_investigation(
        self, channel_id: str, violation_id: str, item: Investigation, audit: Record
    ) -> str:
        """Our row first (naming the violation), then the item; no row if it is refused."""
        key = item.investigation_id.hex()
        with self.station.db.transaction() as s:
            s.add(InvestigationRow(
                investigation_id=key, channel_id=channel_id, direction="out", item_hash="",
                violation_id=violation_id, recorded_at=self.station.clock(), state="asked",
            ))  # fmt: skip
        try:
            self.station.send(channel_id, item, audit)
        except Exception:
            with self.station.db.transaction() as s:
                s.query(InvestigationRow).filter_by(investigation_id=key).delete()
            raise
        return key

    def answer(
        self, violation_id: str, verdict: Verdict, text: str, name_readers: bool, audit: Record
    ) -> Violation:
        """Our principal's finding on what the counterpart asked: sent, and recorded on
        our violation as the item is (``hooks``); readers named only if asked to."""
        violation = self.violation(violation_id)
        asked = next((i for i in violation.investigations if i.direction == "in"), None)
        if asked is None:
            raise InvalidRequest("the counterpart did not ask about this violation")
        named = violation.report["attribution"].get("suspects", [])
        readers = tuple(str(r) for r in named) if name_readers else ()
        item = Finding(bytes.fromhex(asked.investigation_id), verdict, text, readers)
        self.station.send(asked.channel_id, item, audit)
        return self.violation(violation_id)

    def violations(self) -> list[Violation]:
        with self.station.db.reading() as s:
            rows = s.query(ViolationRow).order_by(ViolationRow.recorded_at.desc()).all()
            asked: dict[str, list[Asked]] = {}
            for i in s.query(InvestigationRow).order_by(InvestigationRow.recorded_at):
                asked.setdefault(i.violation_id, []).append(_asked(i))
            return [_violation(r, asked.get(r.violation_id, [])) for r in rows]

    def violation(self, violation_id: str) -> Violation:
        with self.station.db.reading() as s:
            row = s.get(ViolationRow, violation_id) if len(violation_id) <= 32 else None
            if row is None:
                raise InvalidRequest("no such violation")
            query = s.query(InvestigationRow).filter_by(violation_id=violation_id)
            return _violation(
                row, [_asked(i) for i in query.order_by(InvestigationRow.recorded_at)]
            )


def _fitted(item: Investigation) -> Investigation:
    """The item, without the reader's copy if both texts together do not fit in one."""
    try:
        encode_item(item)
    except LocalProtocolError:
        if not item.copy:
            raise
        return msgspec.structs.replace(item, copy="")
    return item


@dataclass(frozen=True)
class Asked:
    """One investigation of a violation: ``out`` we asked the counterpart, ``in`` it
    asked us; its state: asked, scanned, or the verdict of the last finding."""

    investigation_id: str
    channel_id: str
    direction: str
    item_hash: str
    state: str
    recorded_at: float


@dataclass(frozen=True)
class Violation:
    violation_id: str
    recorded_at: float
    status: str
    report: dict[str, Any]  # register_entry of the scan
    findings: list[dict[str, Any]]  # as the hooks record them, both sides'
    investigations: list[Asked]

    @property
    def items(self) -> list[dict[str, Any]]:
        return list(self.report.get("items", []))


def _violation(row: ViolationRow, asked: list[Asked]) -> Violation:
    return Violation(
        row.violation_id, row.recorded_at, row.status, json.loads(row.report),
        json.loads(row.findings), asked,
    )  # fmt: skip


def _asked(row: InvestigationRow) -> Asked:
    return Asked(
        row.investigation_id, row.channel_id, row.direction, row.item_hash, row.state,
        row.recorded_at,
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
        return self.station.hooks.held_text(doc)  # a file's words (attachments)

    def disclosed(self, a: leaks.Alignment) -> Disclosed:
        channel_id, item_hash, part = a.doc.split("/", 2)
        e = self.entry(channel_id, item_hash)
        return Disclosed(
            channel_id, item_hash, part, self.station.hooks.item(e.item_type).name, a.kind,
            a.score, e.disclosure, e.direction, e.clearances, a.evidence,
        )  # fmt: skip
