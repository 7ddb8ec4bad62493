"""The glossary's own steps, composed over the ledger's: propose terms, answer them.

An answer is checked inside the channel's lock against the register as it stands:
the proposal is the counterpart's and still waits, and every term it accepts is one
of the proposal's.  What the register then holds is what the recorded items say.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from backchannel.protocol.glossary import GlossaryAnswer, GlossaryProposal, Term
from backchannel.station.core.audit import Record
from backchannel.station.core.errors import ChannelNotFound, InvalidRequest, guard
from backchannel.station.core.ledger import Ledger
from backchannel.station.languages import register

NO_PROPOSAL = "no glossary proposal of this channel waits for our answer under that id"


class Glossary:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def propose(
        self, channel_id: str, terms: Sequence[Term], note: str = "", audit: Record | None = None
    ) -> str:
        """Send terms for the counterpart to accept; returns the proposal's id."""
        item = guard(
            lambda: GlossaryProposal(proposal_id=os.urandom(16), terms=tuple(terms), note=note)
        )
        with self.ledger.locked(channel_id) as (s, row, channel):
            self.ledger.send_in(s, row, channel, item, audit)
        self.ledger.on_outbox()
        return item.proposal_id.hex()

    def answer(
        self,
        channel_id: str,
        proposal_id: str,
        accepted: Sequence[str],
        note: str = "",
        audit: Record | None = None,
    ) -> None:
        """Accept these terms of the counterpart's proposal; every other is declined."""
        with self.ledger.locked(channel_id) as (s, row, channel):
            waiting = [r for r in register.unanswered(s, row.id, proposal_id) if not r.ours]
            if not waiting:
                raise ChannelNotFound(NO_PROPOSAL)
            ids = {r.id.split("/", 1)[1] for r in waiting}
            unknown = sorted(set(accepted) - ids)
            if unknown:
                listed = ", ".join(sorted(ids))
                said = f"the proposal has no term {unknown[0][:48]!r}; it has {listed}"
                raise InvalidRequest(said)
            item = guard(
                lambda: GlossaryAnswer(
                    proposal_id=bytes.fromhex(proposal_id), accepted=tuple(accepted), note=note
                )
            )
            self.ledger.send_in(s, row, channel, item, audit)
        self.ledger.on_outbox()

    def terms(self, channel_id: str, states: tuple[str, ...] = ()) -> list[register.TermView]:
        with self.ledger.db.reading() as s:
            return register.terms(s, channel_id, states)
