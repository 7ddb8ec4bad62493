"""What an officer may see and do, checked and audited: the one door to content.

The web UI, the officer API and the CLI all render items through ``Desk``.  Each
method checks the authorization matrix (``policy.py``) and records every item it
hands out in the audit trail *before* returning it, so nothing is shown unaudited.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import msgspec

from backchannel.protocol import Checkpoint, Message
from backchannel.protocol.items import Role
from backchannel.protocol.proposal import Answer, Clause, Negotiation
from backchannel.protocol.release import ReleasedText
from backchannel.station.access.policy import Action, Officer
from backchannel.station.core.audit import Record
from backchannel.station.core.deadlines import Due
from backchannel.station.core.errors import (
    ChannelNotFound,
    Forbidden,
    InvalidRequest,
    StationError,
    guard,
)
from backchannel.station.core.records import ChannelStatus, Entry, ReleaseView
from backchannel.station.negotiation.register import AgreementView
from backchannel.station.service import Station
from backchannel.store.schema import ProposalRow

MAX_PAGE = 500
NO_ITEM = "no item of this channel has that hash"
NO_REQUEST = "no release request of this channel has that id"
NO_PROPOSAL = "no proposal of this channel has that id"
DOING = {
    Action.VIEW_CHANNELS: "seeing the channels", Action.READ_ITEM: "reading items",
    Action.SEND_ITEM: "sending items", Action.ACKNOWLEDGE: "acknowledging items",
    Action.DECIDE_RELEASE: "deciding on releases", Action.NEGOTIATE: "negotiating proposals",
    Action.CONFIRM_PAIRING: "confirming the safety number",
    Action.READ_AUDIT: "reading the audit trail",
    Action.MANAGE_OFFICERS: "managing officers",
    Action.APPROVE_GRANTS: "approving grants",
}  # fmt: skip


class Desk:
    def __init__(self, station: Station) -> None:
        self.station = station

    def channels(self, officer: Officer) -> list[ChannelStatus]:
        _require(officer, Action.VIEW_CHANNELS)
        return self.station.statuses()

    def channel(self, officer: Officer, channel: str) -> ChannelStatus:
        _require(officer, Action.VIEW_CHANNELS)
        return self.station.status(channel)

    def thread(
        self, officer: Officer, channel: str, origin: str, *, after: int = 0,
        direction: str | None = None, limit: int = MAX_PAGE,
    ) -> list[Entry]:  # fmt: skip
        """The items of a channel this officer may read (newest ``limit``), audited."""
        _require(officer, Action.READ_ITEM, ())
        channel_id = self.station.known(self.station.resolve(channel))
        entries = self.station.transcript(channel_id, after=after)
        readable = [
            e for e in entries
            if officer.may(Action.READ_ITEM, e.clearances) and direction in (None, e.direction)
        ]  # fmt: skip
        shown = self._conceal(officer, channel_id, readable[-limit:])
        self._rendered(officer, channel_id, origin, shown)
        return shown

    def item(self, officer: Officer, channel: str, envelope_hash: str, origin: str) -> Entry:
        _require(officer, Action.READ_ITEM, ())
        channel_id = self.station.resolve(channel)
        entry = self.station.entry(channel_id, envelope_hash)
        _require(officer, Action.READ_ITEM, entry.clearances, hidden=NO_ITEM)
        shown = self._conceal(officer, channel_id, [entry])
        self._rendered(officer, channel_id, origin, shown)
        return shown[0]

    def send(
        self, officer: Officer, channel: str, origin: str, *, text: str, to_role: Role,
        language: str = "en", clearances: tuple[str, ...] = (),
        ack_deadline: datetime | None = None,
    ) -> Entry:  # fmt: skip
        """Send a message as the officer's own role, at clearances the officer holds."""
        _require(officer, Action.SEND_ITEM, clearances)
        if ack_deadline is not None and ack_deadline.timestamp() <= self.station.clock():
            raise InvalidRequest("the acknowledgement deadline is in the past")
        item = guard(
            lambda: Message(
                text=text, language=language, from_role=officer.role, to_role=to_role,
                ack_deadline=ack_deadline, clearances=tuple(sorted(set(clearances))),
            )
        )  # fmt: skip
        channel_id = self.station.resolve(channel)
        # The audit record is committed with the item (one transaction, no extra flush).
        record = Record(officer.name, "send", origin, detail=f"to {to_role}")
        return self.station.send(channel_id, item, audit=record)

    def acknowledge(
        self, officer: Officer, channel: str, envelope_hash: str, origin: str, note: str = ""
    ) -> Entry:
        channel_id = self.station.resolve(channel)
        _require(officer, Action.ACKNOWLEDGE, ())
        named = self.station.entry(channel_id, envelope_hash)
        _require(officer, Action.ACKNOWLEDGE, named.clearances, hidden=NO_ITEM)
        if named.direction != "in":
            raise StationError("only a received item can be acknowledged")
        if named.acknowledged:
            raise StationError("this item is already acknowledged")
        record = Record(officer.name, "acknowledge", origin, detail=f"item {envelope_hash}")
        return self.station.acknowledge(channel_id, envelope_hash, note, audit=record)

    # -- releases ----------------------------------------------------------------------

    def releases(self, officer: Officer, channel: str, origin: str) -> list[ReleaseView]:
        """Release requests whose items this officer is cleared for, audited as read."""
        _require(officer, Action.READ_ITEM, ())
        channel_id = self.station.known(self.station.resolve(channel))
        views = [
            r for r in self.station.release_requests(channel_id)
            if officer.may(Action.READ_ITEM, r.clearances)
        ]  # fmt: skip
        if views:
            self.station.audit.record(
                *(
                    Record(officer.name, "read", origin, channel_id, bytes.fromhex(r.request_hash),
                           detail="release request")
                    for r in views
                )
            )  # fmt: skip
        return views

    def request_release(
        self, officer: Officer, channel: str, origin: str, texts: list[ReleasedText], *,
        title: str, statement: str, date: str, supersedes: str | None = None,
        respond_by: datetime | None = None,
    ) -> str:  # fmt: skip
        channel_id = self.station.resolve(channel)
        _require(officer, Action.DECIDE_RELEASE, ())
        for text in texts:  # the officer must be cleared for every item named
            entry = self.station.entry(channel_id, text.item_hash.hex())
            _require(officer, Action.DECIDE_RELEASE, entry.clearances, hidden=NO_ITEM)
        action = "release-counter" if supersedes else "release-request"
        return self.station.request_release(
            channel_id, texts, title=title, statement=statement, date=date, supersedes=supersedes,
            audit=Record(officer.name, action, origin), respond_by=respond_by,
        )  # fmt: skip

    def decide_release(
        self, officer: Officer, channel: str, origin: str, request_id: str, *, approve: bool,
        reason: str = "",
    ) -> None:  # fmt: skip
        channel_id = self.station.resolve(channel)
        request = self._request(officer, Action.DECIDE_RELEASE, channel_id, request_id)

        def record(verb: str) -> Record:
            return Record(officer.name, f"release-{verb}", origin, detail=f"request {request_id}")

        if approve:
            self.station.approve_release(channel_id, request.request_id, audit=record("approve"))
        else:
            self.station.decline_release(
                channel_id, request.request_id, reason, audit=record("decline")
            )

    def bundle(self, officer: Officer, channel: str, origin: str, request_id: str) -> bytes:
        """The signed bundle of a completed release (public text only)."""
        channel_id = self.station.resolve(channel)
        self._request(officer, Action.READ_ITEM, channel_id, request_id)
        data = self.station.bundle(request_id)
        self.station.audit.record(Record(officer.name, "release-bundle", origin, channel_id,
                                         detail=f"request {request_id}"))  # fmt: skip
        return data

    def _request(
        self, officer: Officer, action: Action, channel_id: str, request_id: str
    ) -> ReleaseView:
        """A release request of the channel, if the officer may ``action`` on it."""
        _require(officer, action, ())
        request = next(
            (r for r in self.station.release_requests(channel_id) if r.request_id == request_id),
            None,
        )
        if request is None:
            raise ChannelNotFound(NO_REQUEST)
        _require(officer, action, request.clearances, hidden=NO_REQUEST)
        return request

    # -- proposals, agreements, deadlines ------------------------------------------------

    def proposals(self, officer: Officer, channel: str, origin: str) -> list[ProposalRow]:
        """Proposals whose clearance the officer holds (titles and states), audited."""
        _require(officer, Action.READ_ITEM, ())
        rows = self.station.proposals(self.station.known(self.station.resolve(channel)))
        shown = [r for r in rows if officer.may(Action.READ_ITEM, tuple(r.clearances.split()))]
        if shown:
            self.station.audit.record(
                *(
                    Record(officer.name, "read", origin, r.channel_id, r.proposal_hash,
                           "proposal title")
                    for r in shown
                )
            )  # fmt: skip
        return shown

    def negotiation(
        self, officer: Officer, channel: str, proposal_id: str, origin: str
    ) -> Negotiation:
        """A proposal with its versions and answers, audited as read."""
        _require(officer, Action.READ_ITEM, ())
        channel_id = self.station.resolve(channel)
        negotiation = self.station.negotiation(channel_id, proposal_id)
        _require(officer, Action.READ_ITEM, negotiation.proposal.clearances, hidden=NO_PROPOSAL)
        shown = [negotiation.proposal_hash, *(v.source for v in negotiation.versions[1:])]
        self.station.audit.record(
            *(Record(officer.name, "read", origin, channel_id, h, "proposal") for h in shown)
        )
        return negotiation

    def propose(
        self, officer: Officer, channel: str, origin: str, *, title: str, to_role: Role,
        clauses: list[Clause], message: str, respond_by: datetime,
        clearances: tuple[str, ...] = (),
    ) -> str:  # fmt: skip
        _require(officer, Action.NEGOTIATE, clearances)
        channel_id = self.station.resolve(channel)
        return self.station.propose(
            channel_id, title=title, from_role=officer.role, to_role=to_role, clauses=clauses,
            message=message, respond_by=respond_by, clearances=clearances,
            audit=Record(officer.name, "propose", origin),
        )  # fmt: skip

    def respond(
        self, officer: Officer, channel: str, origin: str, proposal_id: str, *,
        answers: list[Answer], message: str = "",
    ) -> None:  # fmt: skip
        channel_id = self._negotiable(officer, channel, proposal_id)
        record = Record(officer.name, "respond", origin, detail=f"proposal {proposal_id}")
        self.station.respond(channel_id, proposal_id, answers, message, audit=record)

    def withdraw(
        self, officer: Officer, channel: str, origin: str, proposal_id: str, reason: str = ""
    ) -> None:
        channel_id = self._negotiable(officer, channel, proposal_id)
        record = Record(officer.name, "withdraw", origin, detail=f"proposal {proposal_id}")
        self.station.withdraw(channel_id, proposal_id, reason, audit=record)

    def agreements(self, officer: Officer, channel: str, origin: str) -> list[AgreementView]:
        """The register, less what the officer is not cleared for; audited as read."""
        _require(officer, Action.READ_ITEM, ())
        channel_id = self.station.known(self.station.resolve(channel))
        labels = {
            p.proposal_id: tuple(p.clearances.split()) for p in self.station.proposals(channel_id)
        }
        shown = [
            a for a in self.station.agreements(channel_id)
            if a.proposal_id in labels and officer.may(Action.READ_ITEM, labels[a.proposal_id])
        ]  # fmt: skip
        if shown:
            self.station.audit.record(
                *(
                    Record(officer.name, "read", origin, channel_id, bytes.fromhex(a.proof[1]),
                           f"agreement {a.id}")
                    for a in shown
                )
            )  # fmt: skip
        return shown

    def due(self, officer: Officer, channel: str | None = None) -> list[Due]:
        """What is owed by when, of the items this officer may read; nothing of others.

        Roles that read no items (auditor, admin) are refused: a due list is made of
        items, and what one of them owes says something of its content.
        """
        _require(officer, Action.READ_ITEM, ())
        channel_id = self.station.resolve(channel) if channel else None
        return [
            d for d in self.station.due(channel_id) if officer.may(Action.READ_ITEM, d.clearances)
        ]

    def _negotiable(self, officer: Officer, channel: str, proposal_id: str) -> str:
        _require(officer, Action.NEGOTIATE, ())
        channel_id = self.station.resolve(channel)
        negotiation = self.station.negotiation(channel_id, proposal_id)
        _require(officer, Action.NEGOTIATE, negotiation.proposal.clearances, hidden=NO_PROPOSAL)
        return channel_id

    def confirm(self, officer: Officer, channel: str, origin: str) -> ChannelStatus:
        _require(officer, Action.CONFIRM_PAIRING)
        channel_id = self.station.resolve(channel)
        status = self.station.confirm(channel_id)
        self.station.audit.record(
            Record(officer.name, "confirm-pairing", origin, channel_id=channel_id)
        )
        return status

    def _conceal(self, officer: Officer, channel_id: str, entries: list[Entry]) -> list[Entry]:
        """The entries with the links to items this officer may not read left out.

        ``prev_hash`` and ``peer_hash`` name neighbouring items, and a checkpoint names
        the newest envelope of each chain; for one the officer may not read, a hash is
        all they would learn, and it is still too much: they see that an item exists
        there (a gap in the numbers), nothing else.
        """
        named = {h for e in entries for h in (e.prev_hash, e.peer_hash, *_heads_named(e))}
        labels = self.station.clearances_of(channel_id, named)
        visible = {h for h, c in labels.items() if officer.may(Action.READ_ITEM, c)}

        def shown(value: str) -> str:
            return value if value in visible else ""

        def concealed(e: Entry) -> Entry:
            item = e.item
            if isinstance(item, Checkpoint):
                sent, received = (bytes.fromhex(shown(h)) for h in _heads_named(e))
                item = msgspec.structs.replace(item, sent_head=sent, received_head=received)
            return dataclasses.replace(
                e, item=item, prev_hash=shown(e.prev_hash), peer_hash=shown(e.peer_hash)
            )

        return [concealed(e) for e in entries]

    def _rendered(
        self, officer: Officer, channel_id: str, origin: str, entries: list[Entry]
    ) -> None:
        record_rendering(self.station, officer.name, origin, channel_id, entries)


def record_rendering(
    station: Station, reader: str, origin: str, channel_id: str, entries: list[Entry]
) -> None:
    """Audit that these items were shown to ``reader`` (one record per item)."""
    if entries:
        station.audit.record(
            *(
                Record(reader, "read", origin, channel_id, bytes.fromhex(e.envelope_hash))
                for e in entries
            )
        )


def _heads_named(e: Entry) -> tuple[str, ...]:
    """The hashes a checkpoint names (the heads of both chains), in hex."""
    if not isinstance(e.item, Checkpoint):
        return ()
    return e.item.sent_head.hex(), e.item.received_head.hex()


def _require(
    officer: Officer, action: Action, labels: tuple[str, ...] | frozenset[str] = (),
    hidden: str = "",
) -> None:  # fmt: skip
    """Refuse what the matrix does not allow.

    ``hidden``: the labels are an existing item's.  An officer who may not read it is
    told it is not found, in the words used for an item that does not exist, so a
    refusal never confirms that an item is there.
    """
    if officer.may(action, labels):
        return
    doing = DOING.get(action, action.value)
    if not officer.may(action):
        raise Forbidden(f"your role ({officer.role}) does not allow {doing}")
    if hidden:
        raise ChannelNotFound(hidden)
    raise Forbidden(f"you may not give an item a clearance label you do not hold, for {doing}")
