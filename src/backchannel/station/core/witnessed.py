"""The counterpart as witness of our audit trail, and we of theirs.

``witness.py`` keeps the trail's head in the station's folder, out of reach of
whoever can only write the database.  Whoever holds the folder and the key — the
host's own admin — could still rewrite the trail, or cut it, and the chain would
verify.  So on a fixed schedule each station sends its trail's head (a position
and the link there) to every counterpart as an ``audit-head`` item; the
counterpart keeps the first head it receives at each position, for good.
``backchannel audit verify --witnessed`` fetches them back over the channel
(``protocol/witness.py``) and fails when the local chain does not hold the same
link at every witnessed position: a rewrite or a cut older than the newest head
sent can no longer pass unseen.

What the counterpart learns is how many audit records this station holds, rounded
down to ``audit_witness_step`` (64 by default), at most once per schedule slot
(``audit_witness_hours``, 6 by default, at fixed times of the UTC day), and only
when that rounded count moved: roughly how busy the station is, a day at a time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backchannel.protocol import RemoteProtocolError
from backchannel.protocol.items import AuditHead, Item
from backchannel.protocol.witness import PAGE_HEADS
from backchannel.protocol.witness import channel_of as witness_channel_of
from backchannel.station.core.errors import NO_OPEN_CHANNEL, ChannelClosed, StationError
from backchannel.station.core.hooks import Recorded, Shown
from backchannel.store import repository as repo
from backchannel.store.schema import AuditHeadRow, AuditRow, ChannelRow, WitnessedHeadRow

if TYPE_CHECKING:
    from backchannel.station.core.ledger import Ledger

WITNESS_PATH = "/peer/v1/witnessed"
MAX_PAGES = 10_000  # 5 million heads: far beyond a century of a head every six hours


def keep(r: Recorded) -> None:
    """An audit head recorded: theirs kept as a witness, ours noted as sent."""
    head = r.link.item
    assert isinstance(head, AuditHead)
    key = (r.channel_id, r.direction, head.position)
    if r.s.get(WitnessedHeadRow, key) is None:  # the first at a position stays
        r.s.add(WitnessedHeadRow(channel_id=r.channel_id, direction=r.direction,
                                 position=head.position, link=head.link, at=r.now))  # fmt: skip


def describe(item: Item, shown: Shown) -> str:
    assert isinstance(item, AuditHead)
    whose = "our" if shown.ours else "their"
    keeper = "they keep" if shown.ours else "we keep"
    return f"{whose} audit trail at record {item.position}, which {keeper} as its witness"


@dataclass(frozen=True)
class Fetched:
    channel_id: str
    peer_station: str
    heads: list[tuple[int, bytes]]


class Witnessing:
    """Sending our heads on schedule, answering for theirs, fetching ours back."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    # -- sending ------------------------------------------------------------------------

    def send_due(self, now: float) -> list[str]:
        """Send our head to each active channel whose slot has not had it; the channels."""
        config = self.ledger.config
        every, step = config.audit_witness_hours * 3600, config.audit_witness_step
        if not every:
            return []
        with self.ledger.db.reading() as s:
            head = s.get(AuditHeadRow, 1)
            position = (head.seq // step) * step if head is not None else 0
            if position == 0:
                return []
            link = s.scalar(select(AuditRow.link).where(AuditRow.seq == position))
            if link is None:  # a cut trail: `audit verify` says so; nothing to witness
                return []
            due = [row.id for row in repo.channels(s) if self._due(s, row, position, now, every)]
        sent = []
        for channel_id in due:
            try:
                with self.ledger.locked(channel_id) as (s, row, channel):
                    if self._due(s, row, position, now, every):  # another worker was first?
                        self.ledger.send_in(s, row, channel, AuditHead(position, link))
                        sent.append(channel_id)
            except (ChannelClosed, StationError):
                continue  # closed meanwhile, or too much unacknowledged: next pass
        if sent:
            self.ledger.on_outbox()
        return sent

    @staticmethod
    def _due(s: Session, row: ChannelRow, position: int, now: float, every: float) -> bool:
        if row.closed is not None or row.pairing != "active":
            return False
        last = s.execute(
            select(WitnessedHeadRow.position, WitnessedHeadRow.at)
            .where(WitnessedHeadRow.channel_id == row.id, WitnessedHeadRow.direction == "out")
            .order_by(WitnessedHeadRow.position.desc())
            .limit(1)
        ).first()
        if last is None:  # the first in the first slot after pairing: a fixed time too
            return bool(now // every > min(row.created_at, now) // every)
        return bool(position > last.position and now // every > min(last.at, now) // every)

    # -- the peer endpoint --------------------------------------------------------------

    def answer(self, data: bytes) -> bytes:
        """The peer asks for the heads of its trail we keep: a page of them (a read)."""
        channel_id = witness_channel_of(data).hex()
        with self.ledger.db.reading() as s:
            row = repo.channel(s, channel_id)
            if row is None:
                raise RemoteProtocolError(NO_OPEN_CHANNEL)
            channel = self.ledger.restore(row)
            query = channel.read_witness_query(data)  # raises unless genuine
            heads = kept(s, channel_id, "in", query.after, PAGE_HEADS + 1)
        return channel.witness_page(query, heads[:PAGE_HEADS], len(heads) > PAGE_HEADS)

    # -- fetching ours back -------------------------------------------------------------

    def fetch(self, channel_id: str) -> Fetched:
        """Every head of our trail the channel's peer keeps, over the channel, in pages."""
        heads: list[tuple[int, bytes]] = []
        after = 0
        for _ in range(MAX_PAGES):
            with self.ledger.db.reading() as s:
                row = repo.channel(s, channel_id)
                if row is None:
                    raise StationError(f"no channel {channel_id}")
                channel, peer = self.ledger.restore(row), row.peer_station
                url = row.peer_endpoint.rstrip("/") + WITNESS_PATH
            nonce = os.urandom(16)
            answer = self.ledger.post_to_peer(
                url, channel.witness_query(nonce, after), self.ledger.peer_pins(channel_id)
            )
            page = channel.read_witness_page(answer, nonce)
            if page.heads and page.heads[0][0] <= after:
                raise RemoteProtocolError("the witness answer goes back")
            heads += page.heads
            if not page.more or not page.heads:
                return Fetched(channel_id, peer, heads)
            after = page.heads[-1][0]
        raise StationError(f"the counterpart holds more than {MAX_PAGES} pages of heads")

    def sent(self, channel_id: str) -> int:
        """How many heads of ours this station sent on the channel."""
        with self.ledger.db.reading() as s:
            count: int | None = s.scalar(
                select(func.count())
                .select_from(WitnessedHeadRow)
                .where(WitnessedHeadRow.channel_id == channel_id)
                .where(WitnessedHeadRow.direction == "out")
            )
        return count or 0


def kept(
    s: Session, channel_id: str, direction: str, after: int, limit: int
) -> list[tuple[int, bytes]]:
    """Heads of one direction past a position, in order of position."""
    rows = s.execute(
        select(WitnessedHeadRow.position, WitnessedHeadRow.link)
        .where(WitnessedHeadRow.channel_id == channel_id)
        .where(WitnessedHeadRow.direction == direction)
        .where(WitnessedHeadRow.position > after)
        .order_by(WitnessedHeadRow.position)
        .limit(limit)
    )
    return [(row.position, row.link) for row in rows]
