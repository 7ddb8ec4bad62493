"""Deadlines: what is due and overdue, on both sides, and escalation.

An item may ask for an answer by a date: a message its acknowledgement, a proposal its
response, a release request a decision.  Each feature says what its items still owe
(its ``owed`` hook; the ledger's own is :func:`acknowledgements_owed`); ``due`` lists
them all with who owes each, ``overdue`` those whose date passed.  Escalation happens
once per item: a row here, an audit record, the optional webhook, and — when the
counterpart owes the answer — a reminder item over the channel.  Time comes from the
station's clock, so tests move it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backchannel.protocol.proposal import Reminder
from backchannel.store import repository as repo
from backchannel.store.schema import EscalationRow, TranscriptRow

# The item types an acknowledgement is owed for by a date: a message, and a message
# with files (a document, ``attachments/``).
ACKNOWLEDGED = ("message", "document")


@dataclass(frozen=True)
class Due:
    """An answer owed by a date."""

    channel_id: str
    item_hash: str
    kind: str  # "acknowledgement", "response" (to a proposal) or "decision" (on a release)
    owed_by: str  # "us" or "them"
    deadline: float
    overdue: bool
    escalated_at: float | None
    clearances: tuple[str, ...]
    title: str  # the proposal's title; empty for a message (its text is content)
    proposal_id: str = ""  # for a response owed


Owed = Callable[[Session, float, "str | None"], "list[Due]"]


def due(s: Session, now: float, channel_id: str | None, owed: Iterable[Owed]) -> list[Due]:
    """Every answer still owed, by either side, soonest first, with its escalation."""
    found = [d for owed_by_feature in owed for d in owed_by_feature(s, now, channel_id)]
    escalated = {
        (r.channel_id, r.item_hash.hex()): r.escalated_at for r in s.scalars(select(EscalationRow))
    }
    closed = repo.closed_channels(s)  # nothing can be answered there any more
    return sorted(
        (
            replace(d, escalated_at=escalated.get((d.channel_id, d.item_hash)))
            for d in found
            if d.channel_id not in closed
        ),
        key=lambda d: d.deadline,
    )


def acknowledgements_owed(s: Session, now: float, channel_id: str | None) -> list[Due]:
    """Messages that ask for an acknowledgement by a date and have none yet."""
    found: list[Due] = []
    messages = select(TranscriptRow).where(
        TranscriptRow.item_type.in_(ACKNOWLEDGED), TranscriptRow.deadline.is_not(None)
    )
    if channel_id is not None:
        messages = messages.where(TranscriptRow.channel_id == channel_id)
    for row in s.scalars(messages):
        assert row.deadline is not None
        if repo.acknowledged(s, row.channel_id, row.envelope_hash, row.direction):
            continue
        owed_by = "us" if row.direction == "in" else "them"
        found.append(owed_by_item(row, now, "acknowledgement", owed_by, row.clearances))
    return found


def owed_by_item(row: TranscriptRow, now: float, kind: str, owed_by: str, labels: str) -> Due:
    """What the item of a transcript row owes, by its deadline (not yet escalated)."""
    assert row.deadline is not None
    return Due(
        row.channel_id, row.envelope_hash.hex(), kind, owed_by, row.deadline,
        row.deadline < now, None, tuple(labels.split()), "",
    )  # fmt: skip


def escalated(s: Session, item: Due) -> bool:
    """Whether the item was escalated already (read under the channel's row lock)."""
    return s.get(EscalationRow, (item.channel_id, bytes.fromhex(item.item_hash))) is not None


def escalate(s: Session, item: Due, now: float) -> EscalationRow:
    row = EscalationRow(
        channel_id=item.channel_id,
        item_hash=bytes.fromhex(item.item_hash),
        kind=item.kind,
        owed_by=item.owed_by,
        deadline=item.deadline,
        escalated_at=now,
        webhook="",
    )
    s.add(row)
    return row


def record_webhook(s: Session, item: Due, outcome: str) -> None:
    row = s.get(EscalationRow, (item.channel_id, bytes.fromhex(item.item_hash)))
    if row is not None:
        row.webhook = outcome


def reminder(item: Due) -> Reminder:
    """The item that tells the counterpart an answer it owes is late."""
    deadline = datetime.fromtimestamp(item.deadline, UTC)
    return Reminder(
        bytes.fromhex(item.item_hash),
        deadline,
        f"the {item.kind} asked for by this date has not arrived",
    )


def escalation_json(station: str, item: Due) -> dict[str, object]:
    """What the webhook receives: no content, only what is late and who owes it."""
    return {
        "event": "overdue", "station": station, "channel": item.channel_id,
        "item": item.item_hash, "kind": item.kind, "owed_by": item.owed_by,
        "deadline": datetime.fromtimestamp(item.deadline, UTC).isoformat(),
    }  # fmt: skip
