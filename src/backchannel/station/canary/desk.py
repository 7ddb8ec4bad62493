"""Attribution and mark capacity as principals and auditors see them: checked and audited.

An attribution is an audited action (who ran it, what it found, whom it named).  A
principal searches the items they are cleared for; an auditor, who reads no content,
searches every item, and is shown item hashes, kinds and scores, never a text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from backchannel.analysis import canary
from backchannel.station.access.door import Door, require
from backchannel.station.access.policy import Action, Officer, searchable_by
from backchannel.station.canary.service import Attribution, Attributions
from backchannel.station.core.errors import InvalidRequest

MAX_COPY_CHARS = 1024 * 1024
MIN_RISK, MAX_RISK = 1e-9, 0.05


@dataclass(frozen=True)
class Traceable:
    """How much one item's text can carry, for the officers who must know (no content)."""

    envelope_hash: str
    kind: str
    part: str
    created_at: float
    language: str
    capacity: canary.Capacity


class CanaryDesk:
    def __init__(self, door: Door, attributions: Attributions) -> None:
        self.door, self.attributions = door, attributions

    def attribute(
        self, officer: Officer, raw: str, origin: str, risk: float = canary.RISK
    ) -> Attribution:
        require(officer, Action.ATTRIBUTE_LEAK)
        if len(raw) > MAX_COPY_CHARS:
            raise InvalidRequest(f"the copy is longer than {MAX_COPY_CHARS} characters")
        if not raw.strip():
            raise InvalidRequest("the copy is empty")
        if not MIN_RISK <= risk <= MAX_RISK:
            raise InvalidRequest(f"the false-accusation risk must be {MIN_RISK:g} to {MAX_RISK:g}")
        found = self.attributions.attribute(raw, searchable_by(officer), risk)
        report = found.report
        named = ", ".join(s.reader for s in report.suspects) or "nobody"
        detail = f"{report.verdict}: {len(report.found)} item(s), named {named}"
        self.door.noted(officer, "attribute", origin, detail=detail[:500])
        return found

    def traceable(self, officer: Officer, origin: str) -> list[Traceable]:
        """Each item's mark capacity, newest first (a read of no content, noted)."""
        require(officer, Action.ATTRIBUTE_LEAK)
        out = [
            Traceable(
                h.entry.envelope_hash, h.kind, h.part, h.entry.created_at, h.language,
                canary.capacity(h.text, h.language),
            )
            for h in self.attributions.held(searchable_by(officer))
        ]  # fmt: skip
        self.door.noted(officer, "mark-capacity", origin)
        return sorted(out, key=lambda t: t.created_at, reverse=True)


async def canary_desk_of(request: Request) -> CanaryDesk:
    desk: CanaryDesk = request.app.state.canary_desk
    return desk


CanaryDeskDep = Annotated[CanaryDesk, Depends(canary_desk_of)]
