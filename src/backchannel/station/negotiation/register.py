"""Proposals at a station: folded from the transcript, summarised, and the register.

Every proposal item (proposal, response, withdrawal) is recorded in the transcript
with the proposal id in ``refers_to``.  After each one, :func:`refresh` folds all the
items of that proposal in arrival order (``protocol/proposal.py``) and writes the
summary row and the agreements register in the same transaction.  The register holds
only what both stations derive from the same items, so it is the same at both.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backchannel.protocol.items import decode_item
from backchannel.protocol.proposal import (
    Agreed,
    Negotiation,
    Proposal,
    ProposalState,
    Response,
    Withdrawal,
)
from backchannel.protocol.sealing import seal, unseal
from backchannel.store.negotiation import AgreementRow, ProposalRow
from backchannel.store.schema import TranscriptRow


@dataclass(frozen=True)
class AgreementView:
    """One entry of the agreements register."""

    id: str
    proposal_id: str
    clause_id: str
    text: str
    category: str
    action: str
    target: str
    effective_date: str
    proof: tuple[str, str]  # transcript hashes: the text proposed, the acceptance
    state: str  # active, amended or ended
    changed_by: str


def fold(s: Session, key: bytes, channel_id: str, proposal_id: bytes) -> Negotiation | None:
    """The proposal's negotiation from its items, in the order this station recorded them."""
    query = (
        select(TranscriptRow)
        .where(TranscriptRow.channel_id == channel_id, TranscriptRow.refers_to == proposal_id)
        .order_by(TranscriptRow.id)
    )
    negotiation: Negotiation | None = None
    for row in s.scalars(query):
        item = decode_item(row.item_type, unseal(key, "item", row.item_sealed))
        if isinstance(item, Proposal):
            if negotiation is None:
                negotiation = Negotiation(item, row.envelope_hash, ours=row.direction == "out")
        elif negotiation is None:
            continue  # cannot happen: answers follow the proposal causally
        elif isinstance(item, Response):
            withdrawn = negotiation.withdrawn_at_seq
            crossed = row.direction == "in" and withdrawn is not None and row.peer_seq < withdrawn
            negotiation.apply_response(
                item,
                row.envelope_hash,
                from_us=row.direction == "out",
                crossed_our_withdrawal=crossed,
            )
        elif isinstance(item, Withdrawal):
            negotiation.apply_withdrawal(row.direction == "out", row.seq)
    return negotiation


def refresh(s: Session, key: bytes, now: float, channel_id: str, proposal_id: bytes) -> None:
    """Re-fold a proposal after one of its items was recorded; update summary and register."""
    negotiation = fold(s, key, channel_id, proposal_id)
    if negotiation is None:
        return
    row = s.get(ProposalRow, proposal_id.hex())
    if row is not None and row.channel_id != channel_id:
        return  # the id is taken by a proposal of another channel: this one is ignored
    p = negotiation.proposal
    state = negotiation.state
    if (
        row is not None
        and row.state == ProposalState.EXPIRED
        and state in (ProposalState.OPEN, ProposalState.ANSWERED)
    ):
        state = ProposalState.EXPIRED  # expiry is time, not an item: keep it
    if row is None:
        row = ProposalRow(
            proposal_id=proposal_id.hex(),
            channel_id=channel_id,
            ours=negotiation.ours,
            title=p.title,
            respond_by=p.respond_by.timestamp(),
            clearances=" ".join(p.clearances),
            proposal_hash=negotiation.proposal_hash,
            created_at=now,
        )
        s.add(row)
    row.state, row.version = state.value, negotiation.current.number
    row.awaiting_us, row.updated_at = negotiation.awaiting_us(), now
    for agreed in negotiation.agreed:
        _register(s, key, channel_id, proposal_id, agreed)


def expire_due(s: Session, now: float) -> list[ProposalRow]:
    """Mark live proposals whose response date passed as expired; returns them."""
    live = select(ProposalRow).where(
        ProposalRow.state.in_([ProposalState.OPEN.value, ProposalState.ANSWERED.value])
    )
    rows = [row for row in s.scalars(live) if row.respond_by < now]  # the date is sealed
    for row in rows:
        row.state, row.updated_at = ProposalState.EXPIRED.value, now
    return rows


def agreements(s: Session, key: bytes, channel_id: str) -> list[AgreementView]:
    query = select(AgreementRow).where(AgreementRow.channel_id == channel_id)
    rows = sorted(s.scalars(query), key=lambda r: (r.effective_date, r.id))  # dates are sealed
    return [
        AgreementView(
            r.id,
            r.proposal_id,
            r.clause_id,
            unseal(key, "agreement", r.text_sealed).decode(),
            r.category,
            r.action,
            r.target,
            r.effective_date,
            (r.proposed_in.hex(), r.accepted_in.hex()),
            r.state,
            r.changed_by,
        )
        for r in rows
    ]


def _register(s: Session, key: bytes, channel_id: str, proposal_id: bytes, agreed: Agreed) -> None:
    clause = agreed.clause
    agreement_id = f"{proposal_id.hex()}/{clause.id}"
    if s.get(AgreementRow, agreement_id) is not None:
        return
    s.add(
        AgreementRow(
            id=agreement_id,
            channel_id=channel_id,
            proposal_id=proposal_id.hex(),
            clause_id=clause.id,
            text_sealed=seal(key, "agreement", clause.text.encode()),
            category=clause.category,
            action=clause.action,
            target=clause.target,
            effective_date=agreed.effective_date,
            proposed_in=agreed.proposed_in,
            accepted_in=agreed.accepted_in,
            state="active",
            changed_by="",
        )
    )
    if clause.action != "add":
        target = s.get(AgreementRow, clause.target)
        if target is not None and target.channel_id == channel_id:
            target.state = "amended" if clause.action == "amend" else "ended"
            target.changed_by = agreement_id
