"""What the leaks feature registers with the ledger: investigations and their findings.

An investigation is recorded in ``investigation`` in the transaction that records the
item: ``out`` (the desk wrote the row first, naming the violation asked about) or
``in`` (the counterpart asks; the index watch scans the text behind delivery and
records our own violation).  A finding is recorded on the violation of the
investigation it answers, at both stations: ours when we send it, the counterpart's
when it arrives.  A finding is taken only for an investigation of the same channel
that went the other way (we answer what we were asked, and hear answers to what we
asked); any other is kept in the transcript and changes nothing.

An investigation is guarded by the labels this station gave the items it names, a
finding by its investigation's.  The published text is not marked (it is public
already) and so not indexed; a finding's text is a text of ours, marked like any.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import msgspec
from sqlalchemy.orm import Session

from backchannel.protocol import Item
from backchannel.protocol.investigation import Finding, Investigation
from backchannel.station.core.hooks import Feature, ItemHooks, Mark, Recorded, Shown, labels_of_rows
from backchannel.store import repository as repo
from backchannel.store.leaks import InvestigationRow, ViolationRow

# A violation's status after a finding with this verdict.
STATUS_AFTER = {
    "not-ours": "answered",
    "rendered-here": "answered",
    "under-investigation": "under-investigation",
}


def _investigation_id(item: Item) -> bytes | None:
    assert isinstance(item, Investigation | Finding)
    return item.investigation_id


def _recorded_investigation(r: Recorded) -> None:
    item = r.link.item
    assert isinstance(item, Investigation)
    key = item.investigation_id.hex()
    row = r.s.get(InvestigationRow, key)
    if row is None:
        if r.direction == "out":  # our own row was lost: there is no violation to name
            return
        r.s.add(
            InvestigationRow(
                investigation_id=key, channel_id=r.channel_id, direction="in",
                item_hash=r.link.envelope_hash.hex(), violation_id="", recorded_at=r.now,
                state="asked",
            )
        )  # fmt: skip
    elif r.direction == "out" and row.channel_id == r.channel_id and row.direction == "out":
        row.item_hash = r.link.envelope_hash.hex()
        _set_status(r.s, row.violation_id, "investigating")


def _recorded_finding(r: Recorded) -> None:
    item = r.link.item
    assert isinstance(item, Finding)
    row = r.s.get(InvestigationRow, item.investigation_id.hex())
    answered = "in" if r.direction == "out" else "out"  # we answer what we were asked
    if row is None or row.channel_id != r.channel_id or row.direction != answered:
        return
    row.state = item.verdict
    violation = r.s.get(ViolationRow, row.violation_id) if row.violation_id else None
    if violation is None:
        return
    # Its words and any names stay in the item, for the door to show.
    finding = {
        "by": "us" if r.direction == "out" else "counterpart", "channel": r.channel_id,
        "verdict": item.verdict, "at": r.now, "item_hash": r.link.envelope_hash.hex(),
    }  # fmt: skip
    violation.findings = json.dumps([*json.loads(violation.findings), finding])
    violation.status = STATUS_AFTER[item.verdict]


def _set_status(s: Session, violation_id: str, status: str) -> None:
    violation = s.get(ViolationRow, violation_id) if violation_id else None
    if violation is not None and violation.status == "open":
        violation.status = status


def _named_labels(s: Session, channel_id: str, item: Item) -> Iterable[str]:
    """The labels this station gave the items named: never what the peer declared."""
    assert isinstance(item, Investigation)
    rows = [repo.entry_row(s, channel_id, h) for h in item.items]
    return sorted(labels_of_rows(rows, channel_id))


def _investigation_labels(s: Session, channel_id: str, item: Item) -> Iterable[str]:
    assert isinstance(item, Finding)
    row = s.get(InvestigationRow, item.investigation_id.hex())
    if row is None or row.channel_id != channel_id or not row.item_hash:
        return ()
    named = repo.entry_row(s, channel_id, bytes.fromhex(row.item_hash))
    return sorted(labels_of_rows([named], channel_id))


def _about_investigation(s: Session, channel_id: str, item: Item) -> str:
    """A finding is about the investigation it answers."""
    assert isinstance(item, Finding)
    row = s.get(InvestigationRow, item.investigation_id.hex())
    return row.item_hash if row is not None and row.channel_id == channel_id else ""


def _describe_investigation(item: Item, shown: Shown) -> str:
    assert isinstance(item, Investigation)
    count = len(item.items)
    who = "asks the counterpart" if shown.ours else "the counterpart asks"
    what = item.title or item.source
    return f"{who} to investigate “{what[:80]}” ({count} item{'' if count == 1 else 's'} found)"


def _describe_finding(item: Item, shown: Shown) -> str:
    assert isinstance(item, Finding)
    said = {
        "not-ours": "not from our copies",
        "rendered-here": "matches a copy rendered at our station",
        "under-investigation": "under investigation",
    }[item.verdict]
    who = "" if shown.ours else " (the counterpart)"
    return f"finding{who}: {said}" + (f" — {item.text}" if item.text else "")


def _marked_finding(item: Item, mark: Mark) -> Item:
    assert isinstance(item, Finding)
    return msgspec.structs.replace(item, text=mark("text", item.text, "en")) if item.text else item


LEAKS = Feature(
    "leaks",
    items=(
        ItemHooks(
            Investigation,
            "Leak investigation",
            recorded=_recorded_investigation,
            labels=_named_labels,
            refers_to=_investigation_id,
            describe=_describe_investigation,
        ),
        ItemHooks(
            Finding,
            "Finding of a leak investigation",
            recorded=_recorded_finding,
            labels=_investigation_labels,
            refers_to=_investigation_id,
            about=_about_investigation,
            describe=_describe_finding,
            marked=_marked_finding,
        ),
    ),
)
