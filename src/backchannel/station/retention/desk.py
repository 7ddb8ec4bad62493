"""Retention as officers see it: the register and the standing of each policy, and the
principal's actions on them, checked and audited, through the door."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from backchannel.protocol.retention import Hold, Rule, Version
from backchannel.station.access.door import Door, require
from backchannel.station.access.policy import Action, Officer
from backchannel.station.core.audit import Record
from backchannel.station.retention.service import Retention, Standing


@dataclass(frozen=True)
class RetentionView:
    """One channel's register as one reader sees it; ``by``: "us" or "them"."""

    versions: list[Version]
    holds: list[Hold]
    standing: list[Standing]
    us: str  # what ``Version.by`` and ``Hold.by`` call this station: "out"


class RetentionDesk:
    def __init__(self, door: Door, retention: Retention) -> None:
        self.door, self.retention = door, retention
        self.station = door.station

    def view(self, officer: Officer, channel: str, origin: str) -> RetentionView:
        """The register: policies name item types and labels, holds give reasons;
        no item's content.  Audited as read, in the transaction that read it."""
        require(officer, Action.VIEW_CHANNELS)
        channel_id = self.station.known(self.station.resolve(channel))
        with self.door.showing(officer, origin, channel_id) as showing:
            register = self.retention.register(showing.s, channel_id)
            standing = self.retention.standing(showing.s, channel_id, self.station.clock())
            versions = sorted(
                register.versions.values(),
                key=lambda v: (v.policy.policy_id, v.policy.version),
            )
            showing.shown((v.item_hash, "retention policy") for v in versions)
        holds = list(register.holds.values())
        return RetentionView(versions, holds, standing, "out")

    def propose(
        self,
        officer: Officer,
        channel: str,
        origin: str,
        *,
        title: str,
        rules: tuple[Rule, ...],
        policy_id: str = "",
    ) -> str:
        require(officer, Action.AGREE_RETENTION)
        detail = f"policy {policy_id}" if policy_id else "a new policy"
        record = Record(officer.name, "propose retention", origin, detail=detail)
        return self.retention.propose(self._channel(channel), title, rules, policy_id, record)

    def answer(
        self, officer: Officer, channel: str, origin: str, *, version: str, accept: bool, note: str
    ) -> str:
        require(officer, Action.AGREE_RETENTION)
        verb = "accept" if accept else "decline"
        record = Record(officer.name, f"{verb} retention", origin, detail=f"version {version}")
        return self.retention.answer(self._channel(channel), version, accept, note, record)

    def hold(
        self, officer: Officer, channel: str, origin: str, reason: str, items: list[str]
    ) -> str:
        require(officer, Action.AGREE_RETENTION)
        scope = f"{len(items)} items" if items else "the whole channel"
        record = Record(officer.name, "place hold", origin, detail=scope)
        return self.retention.hold(self._channel(channel), reason, items, record)

    def lift(self, officer: Officer, channel: str, origin: str, hold_id: str) -> None:
        require(officer, Action.AGREE_RETENTION)
        record = Record(officer.name, "lift hold", origin, detail=f"hold {hold_id}")
        self.retention.lift(self._channel(channel), hold_id, record)

    def _channel(self, channel: str) -> str:
        return self.station.known(self.station.resolve(channel))


def retention_desk_of(request: Request) -> RetentionDesk:
    desk: RetentionDesk = request.app.state.retention_desk
    return desk


DeskDep = Annotated[RetentionDesk, Depends(retention_desk_of)]
