"""The glossary register: each proposed term, folded from the glossary items as recorded.

A proposal adds its terms as ``proposed``; the answer (from the side that did not
propose) makes those it names ``agreed`` and the others ``declined``, and an agreed
term replaces an earlier agreed term of the same id (which becomes ``replaced``).
Both stations record the same items in the same order, so their registers match.
An answer that names no proposal of the other side's, or one already answered, changes
nothing (the peer's mistake is not ours to record).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backchannel.protocol.glossary import GlossaryAnswer, GlossaryProposal, Term
from backchannel.protocol.languages import Text
from backchannel.store.languages import GlossaryTermRow

PROPOSED, AGREED, DECLINED, REPLACED = "proposed", "agreed", "declined", "replaced"


@dataclass(frozen=True)
class TermView:
    """One term of the register as a person reads it."""

    term_id: str
    proposal_id: str
    renderings: tuple[Text, ...]
    state: str
    ours: bool  # this station proposed it
    proposed_in: str  # the proposal item's transcript hash (hex)

    def term(self) -> Term:
        return Term(self.term_id, self.renderings)


def propose(
    s: Session, channel_id: str, item: GlossaryProposal, *, item_hash: bytes, ours: bool,
    now: float,
) -> None:  # fmt: skip
    for term in item.terms:
        s.add(
            GlossaryTermRow(
                id=f"{item.proposal_id.hex()}/{term.id}",
                channel_id=channel_id,
                proposal_id=item.proposal_id.hex(),
                renderings={r.language: r.text for r in term.renderings},
                state=PROPOSED,
                ours=ours,
                proposed_in=item_hash,
                updated_at=now,
            )
        )


def answer(
    s: Session, channel_id: str, item: GlossaryAnswer, *, item_hash: bytes, ours: bool,
    now: float,
) -> None:  # fmt: skip
    rows = _of_proposal(s, channel_id, item.proposal_id.hex())
    # Only the side that did not propose answers, and only once.
    if not rows or any(r.ours == ours or r.state != PROPOSED for r in rows):
        return
    accepted = set(item.accepted)
    for row in rows:
        row.state = AGREED if row.id.split("/", 1)[1] in accepted else DECLINED
        row.answered_in, row.updated_at = item_hash, now
        if row.state == AGREED:
            _replace_earlier(s, channel_id, row, now)


def unanswered(s: Session, channel_id: str, proposal_id: str) -> list[GlossaryTermRow]:
    """The terms of a proposal still waiting for their answer (none: no such proposal)."""
    rows = _of_proposal(s, channel_id, proposal_id)
    return rows if rows and all(r.state == PROPOSED for r in rows) else []


def terms(s: Session, channel_id: str, states: tuple[str, ...] = ()) -> list[TermView]:
    """The channel's terms (in these states, or all), by term id then proposal."""
    query = select(GlossaryTermRow).where(GlossaryTermRow.channel_id == channel_id)
    if states:
        query = query.where(GlossaryTermRow.state.in_(states))
    rows = s.scalars(query).all()
    views = [_view(r) for r in rows]
    return sorted(views, key=lambda v: (v.term_id, v.state != AGREED, v.proposal_id))


def agreed(s: Session, channel_id: str) -> list[Term]:
    return [v.term() for v in terms(s, channel_id, (AGREED,))]


def _of_proposal(s: Session, channel_id: str, proposal_id: str) -> list[GlossaryTermRow]:
    query = select(GlossaryTermRow).where(
        GlossaryTermRow.channel_id == channel_id, GlossaryTermRow.proposal_id == proposal_id
    )
    return list(s.scalars(query).all())


def _replace_earlier(s: Session, channel_id: str, row: GlossaryTermRow, now: float) -> None:
    term_id = row.id.split("/", 1)[1]
    query = select(GlossaryTermRow).where(
        GlossaryTermRow.channel_id == channel_id,
        GlossaryTermRow.state == AGREED,
        GlossaryTermRow.id.endswith(f"/{term_id}"),
        GlossaryTermRow.id != row.id,
    )
    for earlier in s.scalars(query):
        earlier.state, earlier.updated_at = REPLACED, now


def _view(row: GlossaryTermRow) -> TermView:
    renderings = tuple(Text(tag, text) for tag, text in row.renderings.items())
    return TermView(
        row.id.split("/", 1)[1], row.proposal_id, renderings, row.state, row.ours,
        row.proposed_in.hex(),
    )  # fmt: skip
