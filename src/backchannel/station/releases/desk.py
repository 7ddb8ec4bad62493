"""Joint releases as officers see them: checked and audited, through the door."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from fastapi import Depends, Request

from backchannel.analysis.canary import strip_invisible
from backchannel.protocol import Item, Message
from backchannel.protocol.release import ReleaseDecline, ReleasedText
from backchannel.station.access.door import NO_ITEM, Door, require
from backchannel.station.access.policy import Action, Officer
from backchannel.station.core.audit import Record
from backchannel.station.core.errors import ChannelNotFound
from backchannel.station.releases.service import Releases
from backchannel.station.releases.views import ReleaseView

NO_REQUEST = "no release request of this channel has that id"


def _unmarked(text: ReleasedText, item: Item) -> ReleasedText:
    """A public text carries no canary mark: a verbatim one is the item as written
    (the officer worked from their marked copy), and no text keeps an invisible mark."""
    if text.mode == "verbatim" and isinstance(item, Message):
        return msgspec.structs.replace(text, text=item.text)
    return msgspec.structs.replace(text, text=strip_invisible(text.text))


class ReleaseDesk:
    def __init__(self, door: Door, releases: Releases) -> None:
        self.door, self.releases = door, releases
        self.station = door.station

    def requests(self, officer: Officer, channel: str, origin: str) -> list[ReleaseView]:
        """Release requests whose items this officer is cleared for, audited as read."""
        require(officer, Action.READ_ITEM)
        channel_id = self.station.known(self.station.resolve(channel))
        with self.door.showing(officer, origin, channel_id) as showing:
            views = [
                r
                for r in self.releases.requests(channel_id, showing.s)
                if officer.may(Action.READ_ITEM, r.clearances)
            ]
            showing.shown((bytes.fromhex(r.request_hash), "release request") for r in views)
        return views

    def reasons(
        self, officer: Officer, channel_id: str, origin: str, views: list[ReleaseView]
    ) -> dict[str, str]:
        """Why each declined request was declined (request id -> reason): the decline
        items, read and audited through the door like any item shown."""
        require(officer, Action.READ_ITEM)
        declines = {v.declined_by: v.request_id for v in views if v.declined_by}
        if not declines:
            return {}
        with self.station.db.transaction() as s:
            entries = [self.station.entry_in(s, channel_id, h) for h in declines]
            readable = [e for e in entries if officer.may(Action.READ_ITEM, e.clearances)]
            shown = self.door.render(s, officer, origin, channel_id, readable)
        return {
            declines[r.entry.envelope_hash]: r.entry.item.reason
            for r in shown
            if isinstance(r.entry.item, ReleaseDecline)
        }

    def request(
        self,
        officer: Officer,
        channel: str,
        origin: str,
        texts: list[ReleasedText],
        *,
        title: str,
        statement: str,
        date: str,
        supersedes: str | None = None,
        respond_by: datetime | None = None,
    ) -> str:
        channel_id = self.station.resolve(channel)
        require(officer, Action.DECIDE_RELEASE)
        unmarked = []
        for text in texts:  # the officer must be cleared for every item named
            entry = self.station.entry(channel_id, text.item_hash.hex())
            require(officer, Action.DECIDE_RELEASE, entry.clearances, hidden=NO_ITEM)
            unmarked.append(_unmarked(text, entry.item))
        texts = unmarked
        action = "release-counter" if supersedes else "release-request"
        return self.releases.request(
            channel_id,
            texts,
            title=title,
            statement=statement,
            date=date,
            supersedes=supersedes,
            audit=Record(officer.name, action, origin),
            respond_by=respond_by,
        )

    def decide(
        self,
        officer: Officer,
        channel: str,
        origin: str,
        request_id: str,
        *,
        approve: bool,
        reason: str = "",
    ) -> None:
        channel_id = self.station.resolve(channel)
        request = self._request(officer, Action.DECIDE_RELEASE, channel_id, request_id)

        def record(verb: str) -> Record:
            return Record(officer.name, f"release-{verb}", origin, detail=f"request {request_id}")

        if approve:
            self.releases.approve(channel_id, request.request_id, audit=record("approve"))
        else:
            self.releases.decline(channel_id, request.request_id, reason, audit=record("decline"))

    def bundle(self, officer: Officer, channel: str, origin: str, request_id: str) -> bytes:
        """The signed bundle of a completed release (public text only)."""
        channel_id = self.station.resolve(channel)
        self._request(officer, Action.READ_ITEM, channel_id, request_id)
        data = self.releases.bundle(request_id)
        self.station.audit.record(
            Record(
                officer.name, "release-bundle", origin, channel_id, detail=f"request {request_id}"
            )
        )
        return data

    def _request(
        self, officer: Officer, action: Action, channel_id: str, request_id: str
    ) -> ReleaseView:
        """A release request of the channel, if the officer may ``action`` on it."""
        require(officer, action)
        request = next(
            (r for r in self.releases.requests(channel_id) if r.request_id == request_id), None
        )
        if request is None:
            raise ChannelNotFound(NO_REQUEST)
        require(officer, action, request.clearances, hidden=NO_REQUEST)
        return request


async def release_desk_of(request: Request) -> ReleaseDesk:
    desk: ReleaseDesk = request.app.state.release_desk
    return desk


DeskDep = Annotated[ReleaseDesk, Depends(release_desk_of)]
