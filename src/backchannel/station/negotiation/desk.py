"""Proposals and the register as officers see them: checked and audited, through the door."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import msgspec
from fastapi import Depends, Request

from backchannel.analysis import canary, wording
from backchannel.protocol.items import Role
from backchannel.protocol.proposal import Answer, Clause, Negotiation, diff
from backchannel.station.access.door import Door, require, speaking_as
from backchannel.station.access.marking import AS_WRITTEN, Marker
from backchannel.station.access.policy import Action, Officer
from backchannel.station.core.audit import Record
from backchannel.station.negotiation.register import AgreementView
from backchannel.station.negotiation.service import Negotiations
from backchannel.store.negotiation import ProposalRow

NO_PROPOSAL = "no proposal of this channel has that id"


@dataclass(frozen=True)
class ProposalReading:
    """One reader's copy of a proposal, and per (version number, clause id) the words
    changed since the version before, compared as written and shown in the copy."""

    negotiation: Negotiation
    changes: dict[tuple[int, str], list[wording.Piece]]


def _changes(written: Negotiation, copy: Negotiation) -> dict[tuple[int, str], list[wording.Piece]]:
    found = {}
    for k in range(1, len(written.versions)):
        as_written = diff(written.versions[k - 1], written.versions[k])
        as_copied = diff(copy.versions[k - 1], copy.versions[k])
        for (cid, old, new), (_id, old_copy, new_copy) in zip(as_written, as_copied, strict=True):
            if old is not None and new is not None and old != new:
                pieces = wording.changes(old, new, old_copy or "", new_copy or "")
                found[(written.versions[k].number, cid)] = pieces
    return found


@dataclass
class _Copy:
    """One reader's copy of a proposal's texts: each clause marked under the item whose
    text it is (a discussed clause keeps its origin), as the door marks an item."""

    marker: Marker
    reader: str
    authors: dict[bytes, str]

    def variant(self, item: bytes) -> str:
        if self.authors.get(item) == self.reader:
            return AS_WRITTEN
        return canary.variant(self.marker.key, item, self.reader)

    def text(self, item: bytes, part: str, text: str) -> str:
        if not text or self.authors.get(item) == self.reader:
            return text
        return canary.mark(self.marker.key, item, part, self.reader, text)

    def clause(self, item: bytes, clause: Clause) -> Clause:
        return msgspec.structs.replace(
            clause, text=self.text(item, f"clause {clause.id}", clause.text)
        )

    def of(self, n: Negotiation) -> Negotiation:
        origin = {c.id: n.proposal_hash for c in n.proposal.clauses}
        versions = []
        for k, v in enumerate(n.versions):
            if k:
                for a in n.versions[k - 1].answers:
                    if a.verdict == "counter":
                        origin[a.clause_id] = v.source
            later = n.versions[k + 1].source if k + 1 < len(n.versions) else b""
            answers = tuple(
                msgspec.structs.replace(
                    a, counter_text=self.text(later, f"clause {a.clause_id}", a.counter_text)
                )
                for a in v.answers
            )
            clauses = tuple(self.clause(origin.get(c.id, v.source), c) for c in v.clauses)
            versions.append(dataclasses.replace(v, clauses=clauses, answers=answers))
        proposal = msgspec.structs.replace(
            n.proposal,
            clauses=tuple(self.clause(n.proposal_hash, c) for c in n.proposal.clauses),
            message=self.text(n.proposal_hash, "message", n.proposal.message),
        )
        agreed = [
            dataclasses.replace(g, clause=self.clause(g.proposed_in, g.clause)) for g in n.agreed
        ]
        return dataclasses.replace(n, proposal=proposal, versions=versions, agreed=agreed)


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
        return self.reading(officer, channel, proposal_id, origin).negotiation

    def reading(
        self, officer: Officer, channel: str, proposal_id: str, origin: str
    ) -> ProposalReading:
        """The officer's copy of a proposal and its words changed from version to version."""
        require(officer, Action.READ_ITEM)
        channel_id = self.station.resolve(channel)
        with self.door.showing(officer, origin, channel_id) as showing:
            negotiation = self.negotiations.proposal(channel_id, proposal_id, showing.s)
            labels = negotiation.proposal.clearances
            require(officer, Action.READ_ITEM, labels, hidden=NO_PROPOSAL)
            versions = [negotiation.proposal_hash, *(v.source for v in negotiation.versions[1:])]
            authors = self.door.authors(showing.s, channel_id, versions)
            copy = _Copy(self.door.marker, officer.name, authors)
            marked = copy.of(negotiation)
            showing.shown((h, f"proposal, {copy.variant(h)}") for h in versions)
        return ProposalReading(marked, _changes(negotiation, marked))

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
            # Each text is this reader's copy of the item that proposed it (proof[0]).
            texts = [bytes.fromhex(a.proof[0]) for a in shown]
            authors = self.door.authors(showing.s, channel_id, texts)
            copy = _Copy(self.door.marker, officer.name, authors)
            marked = [
                dataclasses.replace(a, text=copy.text(h, f"clause {a.clause_id}", a.text))
                for a, h in zip(shown, texts, strict=True)
            ]
            showing.shown((bytes.fromhex(a.proof[1]), f"agreement {a.id}") for a in shown)
            showing.shown(
                (h, f"agreement {a.id} text, {copy.variant(h)}")
                for a, h in zip(shown, texts, strict=True)
            )
        return marked

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
