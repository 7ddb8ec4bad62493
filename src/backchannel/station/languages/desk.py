"""The glossary as officers see it and agree it: checked and audited, through the door.

Proposing and answering are a principal's, like a proposal's clauses (``NEGOTIATE``);
reading the glossary is every reader's of the channel, and each reading is audited
with one record per glossary item whose terms are shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Request

from backchannel.protocol.glossary import Term
from backchannel.protocol.languages import Text, known
from backchannel.station.access.door import Door, require
from backchannel.station.access.policy import Action, Officer
from backchannel.station.core.audit import Record
from backchannel.station.core.errors import InvalidRequest
from backchannel.station.languages import register
from backchannel.station.languages.service import Glossary


class GlossaryDesk:
    def __init__(self, door: Door, glossary: Glossary) -> None:
        self.door, self.glossary = door, glossary
        self.station = door.station

    def terms(self, officer: Officer, channel: str, origin: str) -> list[register.TermView]:
        """Every term of the channel's glossary: agreed, proposed, declined, replaced."""
        require(officer, Action.READ_ITEM)
        channel_id = self.station.known(self.station.resolve(channel))
        with self.door.showing(officer, origin, channel_id) as showing:
            found = register.terms(showing.s, channel_id)
            hashes = sorted({bytes.fromhex(v.proposed_in) for v in found})
            showing.shown((h, "glossary terms") for h in hashes)
        return found

    def propose(
        self,
        officer: Officer,
        channel: str,
        origin: str,
        terms: Sequence[tuple[str, Sequence[tuple[str, str]]]],
        note: str = "",
    ) -> str:
        """Propose terms, each (id, [(language, rendering), …]); returns the proposal id."""
        require(officer, Action.NEGOTIATE)
        channel_id = self.station.resolve(channel)
        proposed = [Term(term_id.strip(), _renderings(rs)) for term_id, rs in terms]
        record = Record(officer.name, "propose-glossary", origin)
        return self.glossary.propose(channel_id, proposed, note, audit=record)

    def answer(
        self,
        officer: Officer,
        channel: str,
        origin: str,
        proposal_id: str,
        *,
        accepted: Sequence[str],
        note: str = "",
    ) -> None:
        require(officer, Action.NEGOTIATE)
        channel_id = self.station.resolve(channel)
        record = Record(officer.name, "answer-glossary", origin, detail=f"proposal {proposal_id}")
        self.glossary.answer(channel_id, proposal_id, accepted, note, audit=record)


def _renderings(given: Sequence[tuple[str, str]]) -> tuple[Text, ...]:
    """Each rendering in a language this station knows, in canonical case."""
    try:
        return tuple(Text(known(tag), " ".join(text.split())) for tag, text in given)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


async def glossary_desk_of(request: Request) -> GlossaryDesk:
    desk: GlossaryDesk = request.app.state.glossary_desk
    return desk


GlossaryDeskDep = Annotated[GlossaryDesk, Depends(glossary_desk_of)]
