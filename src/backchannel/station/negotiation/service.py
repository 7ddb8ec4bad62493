"""Proposals at a station: propose, respond, withdraw, and what they came to.

The fold of a proposal's items is in ``protocol/proposal.py`` and the register in
``register.py``; these steps run them inside the channel's transaction, through the
ledger's public steps.  What a proposal owes and its expiry are hooks (``hooks.py``).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backchannel.protocol.items import Role
from backchannel.protocol.proposal import (
    Answer,
    Clause,
    Negotiation,
    Proposal,
    ProposalState,
    Response,
    Withdrawal,
)
from backchannel.station.core.audit import Record
from backchannel.station.core.errors import ChannelNotFound, InvalidRequest, guard
from backchannel.station.core.ledger import Ledger
from backchannel.station.negotiation import register as proposals
from backchannel.station.negotiation.register import AgreementView
from backchannel.store.negotiation import ProposalRow


class Negotiations:
    """Proposals at a station, composed over its ledger."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def propose(
        self,
        channel_id: str,
        *,
        title: str,
        from_role: Role,
        to_role: Role,
        clauses: list[Clause],
        message: str,
        respond_by: datetime,
        clearances: tuple[str, ...] = (),
        audit: Record | None = None,
    ) -> str:
        """Send version 1 of a proposal; returns its id."""
        if respond_by.timestamp() <= self.ledger.clock():
            raise InvalidRequest("the requested response date is in the past")
        item = guard(
            lambda: Proposal(
                proposal_id=os.urandom(16),
                title=title,
                from_role=from_role,
                to_role=to_role,
                clauses=tuple(clauses),
                message=message,
                respond_by=respond_by,
                clearances=tuple(sorted(set(clearances))),
            )
        )
        with self.ledger.locked(channel_id) as (s, row, channel):
            self.ledger.send_in(s, row, channel, item, audit)
        self.ledger.on_outbox()
        return item.proposal_id.hex()

    def respond(
        self,
        channel_id: str,
        proposal_id: str,
        answers: list[Answer],
        message: str = "",
        audit: Record | None = None,
    ) -> None:
        """Answer every open clause of the version that waits for us."""
        now = self.ledger.clock()
        date = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        with self.ledger.locked(channel_id) as (s, row, channel):
            negotiation = self._negotiation(s, row.id, proposal_id)
            response = guard(
                lambda: Response(
                    proposal_id=negotiation.proposal.proposal_id,
                    version=negotiation.current.number,
                    answers=tuple(answers),
                    message=message,
                    date=date,
                )
            )
            if self._stored_state(s, row.id, proposal_id) == "expired":
                raise InvalidRequest("the requested response date has passed")
            try:
                negotiation.check_response(response, datetime.fromtimestamp(now, UTC))
            except ValueError as exc:
                raise InvalidRequest(str(exc)) from None
            self.ledger.send_in(s, row, channel, response, audit)
        self.ledger.on_outbox()

    def withdraw(
        self, channel_id: str, proposal_id: str, reason: str = "", audit: Record | None = None
    ) -> None:
        with self.ledger.locked(channel_id) as (s, row, channel):
            negotiation = self._negotiation(s, row.id, proposal_id)
            try:
                negotiation.check_withdrawal()
            except ValueError as exc:
                raise InvalidRequest(str(exc)) from None
            item = guard(lambda: Withdrawal(negotiation.proposal.proposal_id, reason))
            self.ledger.send_in(s, row, channel, item, audit)
        self.ledger.on_outbox()

    # Each read takes ``within`` to run inside the caller's transaction (the door's).

    def proposals(self, channel_id: str | None, within: Session | None = None) -> list[ProposalRow]:
        channel_id = self.ledger.resolve(channel_id)
        with self.ledger.session(within) as s:
            query = select(ProposalRow).where(ProposalRow.channel_id == channel_id)
            return list(s.scalars(query.order_by(ProposalRow.created_at)))

    def proposal(
        self, channel_id: str | None, proposal_id: str, within: Session | None = None
    ) -> Negotiation:
        """A proposal folded from its items: versions, answers, agreed clauses."""
        channel_id = self.ledger.resolve(channel_id)
        with self.ledger.session(within) as s:
            return self._negotiation(s, channel_id, proposal_id)

    def agreements(
        self, channel_id: str | None, within: Session | None = None
    ) -> list[AgreementView]:
        channel_id = self.ledger.resolve(channel_id)
        with self.ledger.session(within) as s:
            return proposals.agreements(s, self.ledger.key, channel_id)

    def _negotiation(self, s: Session, channel_id: str, proposal_id: str) -> Negotiation:
        try:
            pid = bytes.fromhex(proposal_id)
        except ValueError:
            raise InvalidRequest("a proposal id is 32 hex digits") from None
        negotiation = proposals.fold(s, self.ledger.key, channel_id, pid)
        if negotiation is None:
            raise ChannelNotFound("no proposal of this channel has that id")
        stored = self._stored_state(s, channel_id, proposal_id)
        if stored == "expired" and negotiation.state in (
            ProposalState.OPEN,
            ProposalState.ANSWERED,
        ):
            negotiation.state = ProposalState.EXPIRED
        return negotiation

    def _stored_state(self, s: Session, channel_id: str, proposal_id: str) -> str | None:
        row = s.get(ProposalRow, proposal_id)
        return None if row is None or row.channel_id != channel_id else row.state
