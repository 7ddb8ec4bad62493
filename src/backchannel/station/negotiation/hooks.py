"""What the negotiation feature registers with the ledger: proposals and their answers.

Every proposal item is recorded with the proposal id in ``refers_to``; after each one
the register re-folds that proposal (``register.refresh``) in the same transaction.
A proposal carries its own labels and asks for a response by a date; a response or
a withdrawal is guarded by the labels of the proposal as this station holds it.
Each pass of the deadline watch expires the proposals whose date has passed.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from backchannel.protocol import Item
from backchannel.protocol.proposal import Proposal, ProposalState, Response, Withdrawal
from backchannel.station.core.deadlines import Due
from backchannel.station.core.hooks import (
    Feature,
    ItemHooks,
    Mark,
    Recorded,
    Shown,
    labels_of_rows,
)
from backchannel.station.negotiation import register
from backchannel.store.negotiation import ProposalRow

PROPOSAL_ITEMS = (Proposal, Response, Withdrawal)


def _proposal_id(item: Item) -> bytes | None:
    assert isinstance(item, PROPOSAL_ITEMS)
    return item.proposal_id


def _on_its_proposal_page(item: Item) -> str:
    assert isinstance(item, PROPOSAL_ITEMS)
    return f"proposals/{item.proposal_id.hex()}"


def _recorded(r: Recorded) -> None:
    proposal_id = _proposal_id(r.link.item)
    assert proposal_id is not None
    register.refresh(r.s, r.key, r.now, r.channel_id, proposal_id)


def _deadline(item: Item) -> float | None:
    assert isinstance(item, Proposal)
    return item.respond_by.timestamp()


def _own_labels(_s: Session, _channel_id: str, item: Item) -> Iterable[str]:
    assert isinstance(item, Proposal)
    return item.clearances


def _proposal_labels(s: Session, channel_id: str, item: Item) -> Iterable[str]:
    """An answer is guarded by its proposal's labels as we hold them."""
    assert isinstance(item, Response | Withdrawal)
    row = s.get(ProposalRow, item.proposal_id.hex())
    return sorted(labels_of_rows([row], channel_id))


def _about_proposal(s: Session, channel_id: str, item: Item) -> str:
    """A response or a withdrawal is about its proposal, as this station holds it."""
    assert isinstance(item, Response | Withdrawal)
    row = s.get(ProposalRow, item.proposal_id.hex())
    return row.proposal_hash.hex() if row is not None and row.channel_id == channel_id else ""


def _describe_proposal(item: Item, _shown: Shown) -> str:
    assert isinstance(item, Proposal)
    return (
        f"“{item.title}”: {len(item.clauses)} clauses, answer asked for by "
        f"{item.respond_by:%Y-%m-%d %H:%M} UTC"
    )


def _describe_response(item: Item, _shown: Shown) -> str:
    assert isinstance(item, Response)
    counts = {v: sum(a.verdict == v for a in item.answers) for v in ("accept", "counter")}
    return (
        f"answers version {item.version}: {counts['accept']} accepted, "
        f"{counts['counter']} countered" + (f" — {item.message}" if item.message else "")
    )


def _describe_withdrawal(item: Item, _shown: Shown) -> str:
    assert isinstance(item, Withdrawal)
    return item.reason


def responses_owed(s: Session, now: float, channel_id: str | None) -> list[Due]:
    """Live proposals: a response is owed by the side the current version waits for."""
    live = [ProposalState.OPEN.value, ProposalState.ANSWERED.value, ProposalState.EXPIRED.value]
    query = select(ProposalRow).where(ProposalRow.state.in_(live))
    if channel_id is not None:
        query = query.where(ProposalRow.channel_id == channel_id)
    return [
        Due(
            p.channel_id,
            p.proposal_hash.hex(),
            "response",
            "us" if p.awaiting_us else "them",
            p.respond_by,
            p.respond_by < now,
            None,
            tuple(p.clearances.split()),
            p.title,
            p.proposal_id,
        )
        for p in s.scalars(query)
    ]


def _expire(s: Session, now: float) -> None:
    register.expire_due(s, now)


def _marked_proposal(item: Item, mark: Mark) -> Item:
    """Each clause and the covering message, as one reader's copy (the title stays)."""
    assert isinstance(item, Proposal)
    clauses = tuple(
        msgspec.structs.replace(c, text=mark(f"clause {c.id}", c.text, "en")) for c in item.clauses
    )
    message = mark("message", item.message, "en") if item.message else ""
    return msgspec.structs.replace(item, clauses=clauses, message=message)


def _marked_response(item: Item, mark: Mark) -> Item:
    """Each counter-text (a clause of the next version) and the message."""
    assert isinstance(item, Response)
    answers = tuple(
        msgspec.structs.replace(a, counter_text=mark(f"clause {a.clause_id}", a.counter_text, "en"))
        if a.counter_text
        else a
        for a in item.answers
    )
    message = mark("message", item.message, "en") if item.message else ""
    return msgspec.structs.replace(item, answers=answers, message=message)


NEGOTIATION = Feature(
    "negotiation",
    items=(
        ItemHooks(
            Proposal,
            "Proposal",
            recorded=_recorded,
            deadline=_deadline,
            labels=_own_labels,
            refers_to=_proposal_id,
            page=_on_its_proposal_page,
            describe=_describe_proposal,
            marked=_marked_proposal,
        ),
        ItemHooks(
            Response,
            "Response to a proposal",
            recorded=_recorded,
            labels=_proposal_labels,
            refers_to=_proposal_id,
            page=_on_its_proposal_page,
            about=_about_proposal,
            describe=_describe_response,
            marked=_marked_response,
        ),
        ItemHooks(
            Withdrawal,
            "Proposal withdrawn",
            recorded=_recorded,
            labels=_proposal_labels,
            refers_to=_proposal_id,
            page=_on_its_proposal_page,
            about=_about_proposal,
            describe=_describe_withdrawal,
        ),
    ),
    owed=responses_owed,
    tick=_expire,
)
