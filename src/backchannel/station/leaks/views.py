"""A scan as JSON: the same shape on the command line, in the API and behind the web page.

``violation`` is true when any disclosed item was not jointly released; ``items`` has,
per item, its transcript hash (``item_hash``, as ``transcript`` and ``release list``
show it), ``channel``, ``kind`` (verbatim | paraphrase | gist), ``score``,
``disclosure`` and ``evidence``: the article's sentence beside the item's, the item's
as the officer's own copy (``null`` for an auditor, who reads no content).
"""

from __future__ import annotations

from backchannel.protocol.investigation import Finding, Investigation
from backchannel.station.core.records import to_json
from backchannel.station.leaks.desk import Case, Report
from backchannel.station.leaks.service import attribution_summary


def report_json(report: Report) -> dict[str, object]:
    scan = report.scan
    return {
        "violation": scan.violation,
        "violation_id": scan.violation_id or None,
        "source": scan.source, "title": scan.title, "date": scan.date,
        "notes": list(scan.notes),
        "index": {"items": scan.lag.indexed, "behind": scan.lag.behind,
                  "caught_up": scan.caught_up},
        "items": [
            {
                "item_hash": d.item_hash, "channel": d.channel_id, "part": d.part,
                "item_type": d.item_type, "direction": d.direction, "kind": d.kind,
                "score": d.score, "disclosure": d.disclosure, "violation": d.violation,
                "evidence": [
                    {"article": e.article,
                     "item": report.item_sentence((d.channel_id, d.item_hash, d.part), e.at),
                     "similarity": e.similarity, "shared": e.shared}
                    for e in d.evidence
                ],
            }
            for d in scan.items
        ],
        "attribution": attribution_summary(scan.attribution),
    }  # fmt: skip


def case_json(case: Case) -> dict[str, object]:
    """A violation with its investigations and findings; each investigation's ``note``
    and each finding's ``text`` and ``readers`` as the officer was shown them (``null``
    for an auditor, who reads no content)."""
    v = case.violation
    notes = {h: i.note for h, i in case.shown.items() if isinstance(i, Investigation)}
    said = {h: f for h, f in case.shown.items() if isinstance(f, Finding)}
    return {
        "violation_id": v.violation_id, "recorded_at": v.recorded_at, "status": v.status,
        "report": v.report,
        "investigations": [
            {**to_json(i), "note": notes.get(i.item_hash)} for i in v.investigations
        ],
        "findings": [
            {**f, "text": said[f["item_hash"]].text if f["item_hash"] in said else None,
             "readers": list(said[f["item_hash"]].readers) if f["item_hash"] in said else None}
            for f in v.findings
        ],
    }  # fmt: skip
