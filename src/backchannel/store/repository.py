"""Queries, one function each, so the station never writes SQL in its handlers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from .schema import ChannelRow, InvitationRow, OutboxRow, StationRow, TranscriptRow


def station(session: Session) -> StationRow | None:
    return session.get(StationRow, 1)


def channel(session: Session, channel_id: str, *, lock: bool = False) -> ChannelRow | None:
    """A channel row; ``lock`` takes the row lock that serialises its protocol state."""
    return session.get(ChannelRow, channel_id, with_for_update=lock)


def channel_exists(session: Session, channel_id: str) -> bool:
    query = select(ChannelRow.id).where(ChannelRow.id == channel_id)
    return session.scalar(query) is not None


def channels(session: Session) -> Sequence[ChannelRow]:
    return session.scalars(select(ChannelRow).order_by(ChannelRow.created_at)).all()


def channel_names(session: Session) -> list[tuple[str, str, bool]]:
    """(id, peer station, open?) of every channel, without loading their sealed state."""
    columns = (ChannelRow.id, ChannelRow.peer_station, ChannelRow.closed)
    query = select(*columns).order_by(ChannelRow.created_at)
    return [(row.id, row.peer_station, row.closed is None) for row in session.execute(query)]


def invitation(session: Session, channel_id: str, *, lock: bool = False) -> InvitationRow | None:
    return session.get(InvitationRow, channel_id, with_for_update=lock)


def backlog(session: Session, channel_id: str) -> int:
    query = select(func.count()).where(
        OutboxRow.channel_id == channel_id, OutboxRow.delivered_at.is_(None)
    )
    return session.scalar(query) or 0


def _with_backlog() -> Any:
    return (
        select(OutboxRow.id)
        .where(OutboxRow.channel_id == ChannelRow.id, OutboxRow.delivered_at.is_(None))
        .exists()
    )


def due_channels(session: Session, now: float, longest: float) -> list[tuple[str, float | None]]:
    """(id, retry_at) of channels with an undelivered envelope and no backoff in force.

    A backoff that ends further ahead than ``longest`` was set under a clock that ran
    ahead: it is over.
    """
    ready = or_(
        ChannelRow.retry_at.is_(None),
        ChannelRow.retry_at <= now,
        ChannelRow.retry_at > now + longest,
    )
    query = select(ChannelRow.id, ChannelRow.retry_at).where(
        _with_backlog(), ready, ChannelRow.closed.is_(None)
    )
    return [(row.id, row.retry_at) for row in session.execute(query)]


def next_wakeup(session: Session) -> float | None:
    """When the earliest backoff of a channel with a backlog ends."""
    query = select(func.min(ChannelRow.retry_at)).where(
        _with_backlog(), ChannelRow.closed.is_(None)
    )
    return session.scalar(query)


def end_backoffs(session: Session) -> None:
    """Every channel is due at once (a start-up: the peer may be back by now)."""
    session.execute(update(ChannelRow).values(retry_at=None))


def undelivered(session: Session, channel_id: str, limit: int) -> list[tuple[int, bytes]]:
    """(seq, envelope) of the oldest undelivered envelopes (columns, not ORM objects)."""
    query = (
        select(OutboxRow.seq, OutboxRow.envelope)
        .where(OutboxRow.channel_id == channel_id, OutboxRow.delivered_at.is_(None))
        .order_by(OutboxRow.seq)
        .limit(limit)
    )
    return [(row.seq, row.envelope) for row in session.execute(query)]


def peer_endpoint(session: Session, channel_id: str) -> str | None:
    """Where the channel's peer takes envelopes, without loading the sealed state."""
    return session.scalar(select(ChannelRow.peer_endpoint).where(ChannelRow.id == channel_id))


def covered(session: Session) -> dict[str, int]:
    """Channels whose cover traffic runs (both sides agreed to one rate, not 0), with
    the rate; read on every pass of the delivery worker, so no sealed column is opened."""
    query = select(ChannelRow.id, ChannelRow.cover_ours).where(
        ChannelRow.cover_ours > 0,
        ChannelRow.cover_ours == ChannelRow.cover_theirs,
        ChannelRow.pairing == "active",
        ChannelRow.closed.is_(None),
    )
    return {row.id: row.cover_ours for row in session.execute(query)}


def peer_pins(session: Session, channel_id: str) -> list[bytes] | None:
    """The TLS pins of the channel's peer; None if it named none (or no such channel)."""
    return session.scalar(select(ChannelRow.peer_tls_pins).where(ChannelRow.id == channel_id))


def envelope(session: Session, channel_id: str, seq: int) -> bytes | None:
    query = select(OutboxRow.envelope).where(
        OutboxRow.channel_id == channel_id, OutboxRow.seq == seq
    )
    return session.scalar(query)


def mark_delivered(session: Session, channel_id: str, up_to_seq: int, now: float) -> None:
    session.execute(
        update(OutboxRow)
        .where(
            OutboxRow.channel_id == channel_id,
            OutboxRow.seq <= up_to_seq,
            OutboxRow.delivered_at.is_(None),
        )
        .values(delivered_at=now)
    )


def claim_delivery(session: Session, channel_id: str, owner: str, now: float, until: float) -> bool:
    """Take or extend the channel's delivery lease; False while another worker holds it.

    A lease that ends further ahead than twice the span of ours was taken under a
    clock that ran ahead: it is free.
    """
    free = or_(
        ChannelRow.delivery_until.is_(None),
        ChannelRow.delivery_until <= now,
        ChannelRow.delivery_until > now + 2 * (until - now),
        ChannelRow.delivery_owner == owner,
    )
    claim = (
        update(ChannelRow)
        .where(ChannelRow.id == channel_id, free)
        .values(delivery_owner=owner, delivery_until=until)
    )
    # Core execution: its rowcount is the rows matched (one, or none if leased).
    return session.connection().execute(claim).rowcount == 1


def release_delivery(session: Session, channel_id: str, owner: str) -> None:
    mine = and_(ChannelRow.id == channel_id, ChannelRow.delivery_owner == owner)
    release = update(ChannelRow).where(mine).values(delivery_owner=None, delivery_until=None)
    session.connection().execute(release)


def closed_channels(session: Session) -> set[str]:
    return set(session.scalars(select(ChannelRow.id).where(ChannelRow.closed.is_not(None))))


def lease_holders(session: Session) -> list[tuple[str, str]]:
    """(channel id, owner) of every delivery lease held."""
    query = select(ChannelRow.id, ChannelRow.delivery_owner).where(
        ChannelRow.delivery_owner.is_not(None)
    )
    return [(row.id, row.delivery_owner) for row in session.execute(query)]


def postpone(session: Session, channel_id: str, at: float | None) -> None:
    """Put a channel's delivery off until ``at`` (backoff); None: due at once."""
    session.execute(update(ChannelRow).where(ChannelRow.id == channel_id).values(retry_at=at))


def transcript(
    session: Session, channel_id: str, direction: str | None = None, after: int = 0
) -> Sequence[TranscriptRow]:
    """A channel's rows in order; ``after``: only those that arrived after that position."""
    query = select(TranscriptRow).where(TranscriptRow.channel_id == channel_id)
    if direction is not None:
        query = query.where(TranscriptRow.direction == direction)
    if after:
        query = query.where(TranscriptRow.id > after)
    return session.scalars(query.order_by(TranscriptRow.created_at, TranscriptRow.id)).all()


def clearances_of(session: Session, channel_id: str, hashes: list[bytes]) -> dict[bytes, str]:
    """The clearance labels of those of these items the channel holds."""
    query = select(TranscriptRow.envelope_hash, TranscriptRow.clearances).where(
        TranscriptRow.channel_id == channel_id, TranscriptRow.envelope_hash.in_(hashes)
    )
    return {row.envelope_hash: row.clearances for row in session.execute(query)}


class ChainLink(NamedTuple):
    seq: int
    envelope_hash: bytes
    prev_hash: bytes
    item_sealed: bytes
    keyed: bool
    item_type: str


def chain(session: Session, channel_id: str, direction: str) -> list[ChainLink]:
    """Each link of one direction of a transcript, in order, with its sealed body."""
    query = (
        select(
            TranscriptRow.seq,
            TranscriptRow.envelope_hash,
            TranscriptRow.prev_hash,
            TranscriptRow.item_sealed,
            TranscriptRow.keyed,
            TranscriptRow.item_type,
        )
        .where(TranscriptRow.channel_id == channel_id, TranscriptRow.direction == direction)
        .order_by(TranscriptRow.seq)
    )
    return [ChainLink(*r) for r in session.execute(query)]


def rows_of_type(session: Session, hashes: list[bytes], item_type: str) -> list[TranscriptRow]:
    """The rows among these envelope hashes (any channel's) that hold this item type."""
    query = select(TranscriptRow).where(
        TranscriptRow.envelope_hash.in_(hashes), TranscriptRow.item_type == item_type
    )
    return list(session.scalars(query))


def entry_row(session: Session, channel_id: str, envelope_hash: bytes) -> TranscriptRow | None:
    query = select(TranscriptRow).where(
        TranscriptRow.channel_id == channel_id, TranscriptRow.envelope_hash == envelope_hash
    )
    return session.scalar(query.limit(1))


@dataclass(frozen=True)
class EntryFacts:
    """What a channel's entries show besides their items, read in two queries."""

    acknowledged: set[tuple[bytes, str]]  # (hash, direction) of items the other side acked
    delivered: set[int]  # our sequence numbers the peer acknowledged receiving


def entry_facts(session: Session, channel_id: str, only: TranscriptRow | None = None) -> EntryFacts:
    """The facts for a whole channel, or (``only``) for one of its rows."""
    # A destroyed acknowledgement still acknowledged: its tombstone keeps ``refers_to``
    # (of the destroyable types, only an acknowledgement refers to another item).
    acks = select(TranscriptRow.refers_to, TranscriptRow.direction).where(
        TranscriptRow.channel_id == channel_id,
        TranscriptRow.item_type.in_(("ack", "tombstone")),
        TranscriptRow.refers_to.is_not(None),
    )
    delivered = select(OutboxRow.seq).where(
        OutboxRow.channel_id == channel_id, OutboxRow.delivered_at.is_not(None)
    )
    if only is not None:
        acks = acks.where(TranscriptRow.refers_to == only.envelope_hash)
        delivered = delivered.where(OutboxRow.seq == only.seq)
    other = {"in": "out", "out": "in"}
    return EntryFacts(
        {(ref, other[d]) for ref, d in session.execute(acks) if ref is not None},
        set(session.scalars(delivered)),
    )


def newest_rows(
    session: Session, channel_id: str, limit: int
) -> Sequence[tuple[bytes, str, int, str]]:
    """(hash, direction, seq, labels) of a channel's newest rows: no item is opened."""
    query = (
        select(
            TranscriptRow.envelope_hash,
            TranscriptRow.direction,
            TranscriptRow.seq,
            TranscriptRow.clearances,
        )
        .where(TranscriptRow.channel_id == channel_id)
        .order_by(TranscriptRow.id.desc())
        .limit(limit)
    )
    return session.execute(query).tuples().all()


def acknowledged(session: Session, channel_id: str, envelope_hash: bytes, direction: str) -> bool:
    """Whether the other side sent an Ack item naming this envelope."""
    query = select(TranscriptRow.id).where(
        TranscriptRow.channel_id == channel_id,
        TranscriptRow.refers_to == envelope_hash,
        TranscriptRow.direction != direction,
    )
    return session.scalar(query.limit(1)) is not None


def delivered(session: Session, channel_id: str, seq: int) -> bool:
    query = select(OutboxRow.delivered_at).where(
        OutboxRow.channel_id == channel_id, OutboxRow.seq == seq
    )
    return session.scalar(query) is not None


def last_sent_peer_seq(session: Session, channel_id: str) -> int:
    """The newest peer envelope our last sent envelope acknowledged having processed."""
    query = (
        select(TranscriptRow.peer_seq)
        .where(TranscriptRow.channel_id == channel_id, TranscriptRow.direction == "out")
        .order_by(TranscriptRow.seq.desc())  # the (channel, direction, seq) index
        .limit(1)
    )
    return session.scalar(query) or 0


def received_hashes(session: Session, channel_id: str, seqs: list[int]) -> dict[int, bytes]:
    """The hashes of the peer envelopes we hold at these positions (the unique index)."""
    query = select(TranscriptRow.seq, TranscriptRow.envelope_hash).where(
        TranscriptRow.channel_id == channel_id,
        TranscriptRow.direction == "in",
        TranscriptRow.seq.in_(seqs),
    )
    return {row.seq: row.envelope_hash for row in session.execute(query)}


def received_among(session: Session, channel_id: str, hashes: list[bytes]) -> set[bytes]:
    """Which of these envelope hashes we hold from the peer (the hash index)."""
    query = select(TranscriptRow.envelope_hash).where(
        TranscriptRow.channel_id == channel_id,
        TranscriptRow.direction == "in",
        TranscriptRow.envelope_hash.in_(hashes),
    )
    return set(session.scalars(query))


def add_counts(session: Session, channel_id: str | None, bad_input: int, duplicates: int) -> None:
    """Add to a channel's counts of refused and repeated input (or the station's)."""
    if channel_id is not None and session.get(ChannelRow, channel_id) is not None:
        row = update(ChannelRow).where(ChannelRow.id == channel_id)
        session.execute(
            row.values(
                bad_input=ChannelRow.bad_input + bad_input,
                duplicates=ChannelRow.duplicates + duplicates,
            )
        )
    elif bad_input:
        session.execute(update(StationRow).values(bad_input=StationRow.bad_input + bad_input))
