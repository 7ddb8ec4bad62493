"""Proposals and deadlines, as steps of a station: propose, respond, withdraw, and
the deadline watch's expiry and escalation.

The fold of a proposal's items is in protocol/proposal.py, the register in
proposals.py and what is due in deadlines.py; these steps run them inside the
channel's transaction.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backchannel.protocol import Pairing
from backchannel.protocol.items import Role
from backchannel.protocol.proposal import (
    Answer,
    Clause,
    Negotiation,
    Proposal,
    ProposalState,
    Reminder,
    Response,
    Withdrawal,
)
from backchannel.station.core import deadlines
from backchannel.station.core.audit import Record
from backchannel.station.core.deadlines import Due
from backchannel.station.core.errors import ChannelClosed, ChannelNotFound, InvalidRequest, guard
from backchannel.station.core.steps import Steps
from backchannel.station.negotiation import register as proposals
from backchannel.station.negotiation.register import AgreementView
from backchannel.store.schema import ProposalRow


class NegotiationSteps(Steps):
    def propose(
        self, channel_id: str, *, title: str, from_role: Role, to_role: Role,
        clauses: list[Clause], message: str, respond_by: datetime,
        clearances: tuple[str, ...] = (), audit: Record | None = None,
    ) -> str:  # fmt: skip
        """Send version 1 of a proposal; returns its id."""
        if respond_by.timestamp() <= self.clock():
            raise InvalidRequest("the requested response date is in the past")
        item = guard(
            lambda: Proposal(
                proposal_id=os.urandom(16), title=title, from_role=from_role, to_role=to_role,
                clauses=tuple(clauses), message=message, respond_by=respond_by,
                clearances=tuple(sorted(set(clearances))),
            )
        )  # fmt: skip
        with self._channel(channel_id) as (s, row, channel):
            self._send_now(s, row, channel, item, audit)
        self.on_outbox()
        return item.proposal_id.hex()

    def respond(
        self, channel_id: str, proposal_id: str, answers: list[Answer], message: str = "",
        audit: Record | None = None,
    ) -> None:  # fmt: skip
        """Answer every open clause of the version that waits for us."""
        now = self.clock()
        date = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        with self._channel(channel_id) as (s, row, channel):
            negotiation = self._negotiation(s, row.id, proposal_id)
            response = guard(
                lambda: Response(
                    proposal_id=negotiation.proposal.proposal_id,
                    version=negotiation.current.number, answers=tuple(answers),
                    message=message, date=date,
                )
            )  # fmt: skip
            if self._stored_state(s, row.id, proposal_id) == "expired":
                raise InvalidRequest("the requested response date has passed")
            try:
                negotiation.check_response(response, datetime.fromtimestamp(now, UTC))
            except ValueError as exc:
                raise InvalidRequest(str(exc)) from None
            self._send_now(s, row, channel, response, audit)
        self.on_outbox()

    def withdraw(
        self, channel_id: str, proposal_id: str, reason: str = "", audit: Record | None = None
    ) -> None:
        with self._channel(channel_id) as (s, row, channel):
            negotiation = self._negotiation(s, row.id, proposal_id)
            try:
                negotiation.check_withdrawal()
            except ValueError as exc:
                raise InvalidRequest(str(exc)) from None
            item = guard(lambda: Withdrawal(negotiation.proposal.proposal_id, reason))
            self._send_now(s, row, channel, item, audit)
        self.on_outbox()

    def proposals(self, channel_id: str | None) -> list[ProposalRow]:
        with self.db.reading() as s:
            query = select(ProposalRow).where(ProposalRow.channel_id == self.resolve(channel_id))
            return list(s.scalars(query.order_by(ProposalRow.created_at)))

    def negotiation(self, channel_id: str | None, proposal_id: str) -> Negotiation:
        """A proposal folded from its items: versions, answers, agreed clauses."""
        with self.db.reading() as s:
            return self._negotiation(s, self.resolve(channel_id), proposal_id)

    def agreements(self, channel_id: str | None) -> list[AgreementView]:
        with self.db.reading() as s:
            return proposals.agreements(s, self._key, self.resolve(channel_id))

    def due(self, channel_id: str | None = None) -> list[Due]:
        with self.db.reading() as s:
            return deadlines.due(s, self.clock(), channel_id)

    def check_deadlines(
        self, notify: Callable[[dict[str, object]], str] | None = None
    ) -> list[Due]:
        """Expire proposals past their date and escalate each overdue item once.

        Returns the items escalated now.  ``notify`` posts to the webhook (if any) and
        returns what happened, which is kept with the escalation.
        """
        now = self.clock()
        with self.db.transaction() as s:
            proposals.expire_due(s, now)
        fresh = [d for d in self.due() if d.overdue and d.escalated_at is None]
        done = [item for item in fresh if self._escalate(item, now)]
        for item in done:
            if notify is not None:  # after the commit: never hold the writer lock on HTTP
                outcome = notify(_escalation_json(self.config.station, item))[:200]
                with self.db.transaction(durable=False) as s:
                    deadlines.record_webhook(s, item, outcome)
        return done

    def _escalate(self, item: Due, now: float) -> bool:
        """Escalate one overdue item, under its channel's lock; False if skipped."""
        try:
            with self._channel(item.channel_id) as (s, row, channel):
                if deadlines.escalated(s, item):  # another worker of ours was first
                    return False
                deadlines.escalate(s, item, now)
                if item.owed_by == "them" and channel.pairing is Pairing.ACTIVE:
                    reminder = Reminder(
                        bytes.fromhex(item.item_hash), datetime.fromtimestamp(item.deadline, UTC),
                        f"the {item.kind} asked for by this date has not arrived",
                    )  # fmt: skip
                    self._send_now(s, row, channel, reminder)
                self.audit.append(s, [Record("station", "escalate", "deadline", item.channel_id,
                                             bytes.fromhex(item.item_hash),
                                             f"{item.kind} owed by {item.owed_by}")])  # fmt: skip
        except ChannelClosed:  # closed since the list was read: nothing is owed there now
            return False
        self.on_outbox()
        return True

    def _negotiation(self, s: Session, channel_id: str, proposal_id: str) -> Negotiation:
        try:
            pid = bytes.fromhex(proposal_id)
        except ValueError:
            raise InvalidRequest("a proposal id is 32 hex digits") from None
        negotiation = proposals.fold(s, self._key, channel_id, pid)
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


def _escalation_json(station: str, item: Due) -> dict[str, object]:
    """What the webhook receives: no content, only what is late and who owes it."""
    return {
        "event": "overdue", "station": station, "channel": item.channel_id,
        "item": item.item_hash, "kind": item.kind, "owed_by": item.owed_by,
        "deadline": datetime.fromtimestamp(item.deadline, UTC).isoformat(),
    }  # fmt: skip
