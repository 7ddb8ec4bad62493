"""Deadlines: what is due and overdue, on both sides, and escalation.

An item may ask for an answer by a date: a message its acknowledgement, a proposal its
response.  ``due`` lists every open one with who owes it; ``overdue`` those whose date
passed.  Escalation happens once per item: a row here, an audit record, the optional
webhook, and — when the counterpart owes the answer — a reminder item over the channel.
Time comes from the station's clock, so tests move it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backchannel.protocol.proposal import ProposalState
from backchannel.store import repository as repo
from backchannel.store.schema import EscalationRow, ProposalRow, ReleaseRow, TranscriptRow


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


def due(s: Session, now: float, channel_id: str | None = None) -> list[Due]:
    """Every answer still owed, by either side, soonest first."""
    escalated = {
        (r.channel_id, r.item_hash): r.escalated_at for r in s.scalars(select(EscalationRow))
    }
    found: list[Due] = []
    messages = select(TranscriptRow).where(
        TranscriptRow.item_type == "message", TranscriptRow.deadline.is_not(None)
    )
    if channel_id is not None:
        messages = messages.where(TranscriptRow.channel_id == channel_id)
    for row in s.scalars(messages):
        assert row.deadline is not None
        if repo.acknowledged(s, row.channel_id, row.envelope_hash, row.direction):
            continue
        key = (row.channel_id, row.envelope_hash)
        found.append(
            Due(
                row.channel_id, row.envelope_hash.hex(), "acknowledgement",
                "us" if row.direction == "in" else "them", row.deadline, row.deadline < now,
                escalated.get(key), tuple(row.clearances.split()), "",
            )
        )  # fmt: skip
    found += _release_decisions(s, now, channel_id, escalated)
    proposals = select(ProposalRow).where(
        ProposalRow.state.in_(
            [ProposalState.OPEN.value, ProposalState.ANSWERED.value, ProposalState.EXPIRED.value]
        )
    )
    if channel_id is not None:
        proposals = proposals.where(ProposalRow.channel_id == channel_id)
    for p in s.scalars(proposals):
        key = (p.channel_id, p.proposal_hash)
        found.append(
            Due(
                p.channel_id, p.proposal_hash.hex(), "response",
                "us" if p.awaiting_us else "them", p.respond_by, p.respond_by < now,
                escalated.get(key), tuple(p.clearances.split()), p.title, p.proposal_id,
            )
        )  # fmt: skip
    closed = repo.closed_channels(s)  # nothing can be answered there any more
    return sorted((d for d in found if d.channel_id not in closed), key=lambda d: d.deadline)


def escalated(s: Session, item: Due) -> bool:
    """Whether the item was escalated already (read under the channel's row lock)."""
    return s.get(EscalationRow, (item.channel_id, bytes.fromhex(item.item_hash))) is not None


def escalate(s: Session, item: Due, now: float) -> EscalationRow:
    row = EscalationRow(
        channel_id=item.channel_id, item_hash=bytes.fromhex(item.item_hash), kind=item.kind,
        owed_by=item.owed_by, deadline=item.deadline, escalated_at=now, webhook="",
    )  # fmt: skip
    s.add(row)
    return row


def record_webhook(s: Session, item: Due, outcome: str) -> None:
    row = s.get(EscalationRow, (item.channel_id, bytes.fromhex(item.item_hash)))
    if row is not None:
        row.webhook = outcome


def _release_decisions(
    s: Session, now: float, channel_id: str | None,
    escalated: dict[tuple[str, bytes], float],
) -> list[Due]:  # fmt: skip
    """Open release requests that ask for a decision by a date."""
    query = (
        select(TranscriptRow, ReleaseRow)
        .join(ReleaseRow, ReleaseRow.request_hash == TranscriptRow.envelope_hash)
        .where(
            TranscriptRow.item_type == "release-request", TranscriptRow.deadline.is_not(None),
            ReleaseRow.state == "open", ReleaseRow.channel_id == TranscriptRow.channel_id,
        )
    )  # fmt: skip
    if channel_id is not None:
        query = query.where(TranscriptRow.channel_id == channel_id)
    found = []
    for row, request in s.execute(query):
        assert row.deadline is not None
        found.append(
            Due(
                row.channel_id, row.envelope_hash.hex(), "decision",
                "them" if request.requester == "us" else "us", row.deadline,
                row.deadline < now, escalated.get((row.channel_id, row.envelope_hash)),
                tuple(request.clearances.split()), "",
            )
        )  # fmt: skip
    return found
