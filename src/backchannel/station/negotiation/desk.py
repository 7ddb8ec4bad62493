"""Proposals and the register as officers see them: checked and audited, through the door."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from backchannel.protocol.items import Role
from backchannel.protocol.proposal import Answer, Clause, Negotiation
from backchannel.station.access.door import Door, require, speaking_as
from backchannel.station.access.policy import Action, Officer
from backchannel.station.core.audit import Record
from backchannel.station.negotiation.register import AgreementView
from backchannel.station.negotiation.service import Negotiations
from backchannel.store.negotiation import ProposalRow

NO_PROPOSAL = "no proposal of this channel has that id"


class NegotiationDesk:
    def __init__(self, door: Door, negotiations: Negotiations) -> None:
        self.door, self.negotiations = door, negotiations
        self.station = door.station

    def proposals(self, officer: Officer, channel: str, origin: str) -> list[ProposalRow]:
        """Proposals whose clearance the officer holds (titles and states), audited."""
        require(officer, Action.READ_ITEM)
        channel_id = self.station.known(self.station.resolve(channel))
        with self.door.showing(officer, origin, channel_id) as showing:
            rows = self.negotiations.proposals(channel_id, showing.s)
            shown = [r for r in rows if officer.may(Action.READ_ITEM, tuple(r.clearances.split()))]
            showing.shown((r.proposal_hash, "proposal title") for r in shown)
        return shown

    def proposal(
        self, officer: Officer, channel: str, proposal_id: str, origin: str
    ) -> Negotiation:
        """A proposal with its versions and answers, every version audited as read."""
        require(officer, Action.READ_ITEM)
        channel_id = self.station.resolve(channel)
        with self.door.showing(officer, origin, channel_id) as showing:
            negotiation = self.negotiations.proposal(channel_id, proposal_id, showing.s)
            labels = negotiation.proposal.clearances
            require(officer, Action.READ_ITEM, labels, hidden=NO_PROPOSAL)
            versions = [negotiation.proposal_hash, *(v.source for v in negotiation.versions[1:])]
            showing.shown((h, "proposal") for h in versions)
        return negotiation

    def propose(
        self,
        officer: Officer,
        channel: str,
        origin: str,
        *,
        title: str,
        to_role: Role,
        clauses: list[Clause],
        message: str,
        respond_by: datetime,
        clearances: tuple[str, ...] = (),
        from_role: Role | None = None,
    ) -> str:
        require(officer, Action.NEGOTIATE, clearances)
        channel_id = self.station.resolve(channel)
        return self.negotiations.propose(
            channel_id,
            title=title,
            from_role=speaking_as(officer, from_role),
            to_role=to_role,
            clauses=clauses,
            message=message,
            respond_by=respond_by,
            clearances=clearances,
            audit=Record(officer.name, "propose", origin),
        )

    def respond(
        self,
        officer: Officer,
        channel: str,
        origin: str,
        proposal_id: str,
        *,
        answers: list[Answer],
        message: str = "",
    ) -> None:
        channel_id = self._negotiable(officer, channel, proposal_id)
        record = Record(officer.name, "respond", origin, detail=f"proposal {proposal_id}")
        self.negotiations.respond(channel_id, proposal_id, answers, message, audit=record)

    def withdraw(
        self, officer: Officer, channel: str, origin: str, proposal_id: str, reason: str = ""
    ) -> None:
        channel_id = self._negotiable(officer, channel, proposal_id)
        record = Record(officer.name, "withdraw", origin, detail=f"proposal {proposal_id}")
        self.negotiations.withdraw(channel_id, proposal_id, reason, audit=record)

    def agreements(self, officer: Officer, channel: str, origin: str) -> list[AgreementView]:
        """The register, less what the officer is not cleared for; audited as read."""
        require(officer, Action.READ_ITEM)
        channel_id = self.station.known(self.station.resolve(channel))
        with self.door.showing(officer, origin, channel_id) as showing:
            proposals = self.negotiations.proposals(channel_id, showing.s)
            labels = {p.proposal_id: tuple(p.clearances.split()) for p in proposals}
            shown = [
                a
                for a in self.negotiations.agreements(channel_id, showing.s)
                if a.proposal_id in labels and officer.may(Action.READ_ITEM, labels[a.proposal_id])
            ]
            showing.shown((bytes.fromhex(a.proof[1]), f"agreement {a.id}") for a in shown)
        return shown

    def _negotiable(self, officer: Officer, channel: str, proposal_id: str) -> str:
        require(officer, Action.NEGOTIATE)
        channel_id = self.station.resolve(channel)
        negotiation = self.negotiations.proposal(channel_id, proposal_id)
        require(officer, Action.NEGOTIATE, negotiation.proposal.clearances, hidden=NO_PROPOSAL)
        return channel_id


async def negotiation_desk_of(request: Request) -> NegotiationDesk:
    desk: NegotiationDesk = request.app.state.negotiation_desk
    return desk


DeskDep = Annotated[NegotiationDesk, Depends(negotiation_desk_of)]
