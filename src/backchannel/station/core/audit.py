"""The access audit trail: every rendering of an item and every administrative action.

Each record is a link of a chain: ``link = HMAC(audit key, previous link, record)``
with a key derived from the station key, which lives outside the database.  A head
row holds the newest sequence number and link under a keyed tag, and the same head is
witnessed outside the database after every commit (``witness.py``).  So whoever can
write to the database but does not hold the station key cannot edit a record, delete
one, or cut off the newest ones — even by putting an older head row back, or the
whole database back to an older copy — without ``verify`` naming the first bad link.
The records' fields are sealed columns; the chain covers their plain values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import LargeBinary, Row, event, func, insert, select, type_coerce
from sqlalchemy.orm import Session

from backchannel.protocol.kdf import derive_key, mac, mac_matches
from backchannel.station.core.witness import Head, Witness, WitnessBroken
from backchannel.store import Database
from backchannel.store.schema import AuditHeadRow, AuditRow
from backchannel.store.sealed import BrokenSeal, blind_index, open_value

log = logging.getLogger("backchannel.audit")
GENESIS = bytes(32)
MAX_DETAIL = 500
VERIFY_BATCH = 1000


@dataclass(frozen=True)
class Record:
    """What happened: who, what, to which item, from where.  ``at`` is set on append."""

    officer: str
    action: str
    origin: str
    channel_id: str | None = None
    item_hash: bytes | None = None
    detail: str = ""


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: float
    record: Record


@dataclass(frozen=True)
class Verdict:
    ok: bool
    links: int  # links checked
    first_bad: int | None = None
    reason: str = ""


class AuditTrail:
    def __init__(
        self,
        db: Database,
        station_key: bytes,
        clock: Callable[[], float],
        witness_path: Path | None = None,
    ) -> None:
        self.db, self.clock = db, clock
        self._key = derive_key(station_key, "audit-chain")
        self._station_key = station_key
        self.witness = None if witness_path is None else Witness(witness_path, self._key)

    def record(self, *records: Record) -> None:
        """Append records in a transaction of their own (durable before we go on)."""
        with self.db.transaction() as s:
            self.append(s, records)

    def append(self, s: Session, records: Iterable[Record]) -> None:
        """Append records inside the caller's transaction."""
        records = list(records)
        if not records:
            return
        head = s.get(AuditHeadRow, 1, with_for_update=True)  # serialises appends
        seq, link = (head.seq, head.link) if head else (0, GENESIS)
        now = self.clock()
        rows = []
        for given in records:
            record, seq = _fit(given), seq + 1
            link = self._link(link, seq, now, record)
            rows.append(
                {
                    "seq": seq,
                    "at": now,
                    "link": link,
                    **_columns(record),
                    "officer_key": self._officer_key(record.officer),
                }
            )
        if rows:  # one multi-row INSERT, not one ORM object per record
            s.execute(insert(AuditRow), rows)
        tag = self._tag(seq, link)
        if head is None:
            s.add(AuditHeadRow(id=1, seq=seq, link=link, tag=tag))
        else:
            head.seq, head.link, head.tag = seq, link, tag
        self._witness_after_commit(s, Head(seq, link))

    def _witness_after_commit(self, s: Session, head: Head) -> None:
        """Witness the new head once the caller's transaction has committed."""
        if self.witness is None:
            return
        pending = s.info.get("audit_head")
        s.info["audit_head"] = head
        if pending is None:  # the first append of this transaction: listen for its end
            event.listen(s, "after_commit", self._witness_now, once=True)

    def _witness_now(self, s: Session) -> None:
        """After a commit: the commit stands whatever happens here, so a failure to write
        the witness is logged, never raised into the caller that committed."""
        assert self.witness is not None
        try:
            self.witness.advance(s.info["audit_head"])
        except OSError as exc:
            log.error("could not witness the audit trail's head: %s", exc.strerror or exc)

    def rewitness(self) -> None:
        """Witness the trail's head as it is now, even if behind (after a restore)."""
        if self.witness is None:
            return
        with self.db.reading() as s:
            head = s.get(AuditHeadRow, 1)
        self.witness.reset(Head(0, GENESIS) if head is None else Head(head.seq, head.link))

    def verify(self) -> Verdict:
        """Recompute the chain from the first link; name the first one that is wrong."""
        # The witness first: it never leads the database, so the snapshot read after it
        # must reach it, however many records are appended meanwhile.
        witnessed = self._read_witness()
        with self.db.reading() as s:
            broken, count, link = self._walk(s)
            head = s.get(AuditHeadRow, 1)
        if broken is not None:
            return broken
        if head is None:
            return Verdict(
                not count,
                count,
                1 if count else None,
                "the head of the trail is missing" if count else "",
            )
        if not mac_matches(self._key, head.tag, "audit-head", head.seq, head.link):
            return Verdict(False, count, head.seq, "the head of the trail was altered")
        if head.seq != count or head.link != link:
            return Verdict(False, count, count + 1, f"links {count + 1} to {head.seq} were removed")
        return self._check_witness(count, witnessed)

    def check_witnessed(self, heads: list[tuple[int, bytes]], by: str) -> Verdict:
        """The chain, intact in itself, must hold the link ``by`` witnessed at each
        position: otherwise it was rewritten there, or cut before it (witnessed.py)."""
        verdict = self.verify()
        if not verdict.ok:
            return verdict
        count = verdict.links
        for start in range(0, len(heads), VERIFY_BATCH):
            chunk = heads[start : start + VERIFY_BATCH]
            wanted = [position for position, _ in chunk]
            with self.db.reading() as s:
                rows = s.execute(
                    select(AuditRow.seq, AuditRow.link).where(AuditRow.seq.in_(wanted))
                )
                links = {row.seq: row.link for row in rows}
            for position, link in chunk:
                if position > count:
                    reason = f"links {count + 1} to {position} were removed (witnessed by {by})"
                    return Verdict(False, count, count + 1, reason)
                if links.get(position) != link:
                    reason = f"link {position} is not the one {by} witnessed: it was rewritten"
                    return Verdict(False, count, position, reason)
        return Verdict(True, count)

    def _read_witness(self) -> Head | WitnessBroken | None:
        if self.witness is None:
            return None
        try:
            return self.witness.read()
        except WitnessBroken as exc:
            return exc

    def _check_witness(self, count: int, seen: Head | WitnessBroken | None) -> Verdict:
        """The chain, intact in itself, must reach the head witnessed outside the database."""
        if isinstance(seen, WitnessBroken):
            return Verdict(False, count, None, f"the witness of the trail's head: {seen}")
        if seen is None or self.witness is None:
            return Verdict(True, count)
        where = self.witness.path.name
        if seen.seq > count:
            reason = f"links {count + 1} to {seen.seq} were removed (witnessed in {where})"
            return Verdict(False, count, count + 1, reason)
        with self.db.reading() as s:
            link = s.scalar(select(AuditRow.link).where(AuditRow.seq == seen.seq))
        if seen.seq and link != seen.link:
            reason = f"link {seen.seq} is not the one witnessed in {where}: it was rewritten"
            return Verdict(False, count, seen.seq, reason)
        return Verdict(True, count)

    def _walk(self, s: Session) -> tuple[Verdict | None, int, bytes]:
        """Check every link in order: (the first break or None, links, last link)."""
        expected, link = 1, GENESIS
        for row in _raw_rows(s):
            if row.seq != expected:
                return Verdict(False, expected - 1, expected, f"link {expected} is missing"), 0, b""
            record = self._open(row)  # None: a sealed field was written around us
            if record is None or row.link != self._link(link, row.seq, row.at, record):
                return (
                    Verdict(False, expected - 1, expected, f"link {expected} was altered"),
                    0,
                    b"",
                )
            link, expected = row.link, expected + 1
        return None, expected - 1, link

    def first_officers(self, s: Session, item_hashes: Iterable[bytes]) -> dict[bytes, str]:
        """Who the first record of each item names: for an item we sent, its author
        (the send is recorded in the transaction that records the item)."""
        wanted = list(set(item_hashes))
        if not wanted:
            return {}
        first = (
            select(func.min(AuditRow.seq))
            .where(AuditRow.item_hash.in_(wanted))
            .group_by(AuditRow.item_hash)
        )
        rows = s.execute(select(AuditRow.item_hash, _RAW[0]).where(AuditRow.seq.in_(first)))
        out = {}
        for row in rows:
            try:
                officer = open_value(self._station_key, "audit.officer", str, row.officer)
                out[row.item_hash] = officer
            except BrokenSeal:
                continue  # a record that does not open names nobody: the item is marked
        return out

    def show(
        self,
        officer: str | None = None,
        item_hash: bytes | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 500,
    ) -> list[AuditEntry]:
        """The newest records first, filtered by officer, item and time."""
        query = select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)
        if officer is not None:
            query = query.where(AuditRow.officer_key == self._officer_key(officer[:100]))
        if item_hash is not None:
            query = query.where(AuditRow.item_hash == item_hash)
        if since is not None:
            query = query.where(AuditRow.at >= since.timestamp())
        if until is not None:
            query = query.where(AuditRow.at <= until.timestamp())
        with self.db.reading() as s:
            return [AuditEntry(row.seq, row.at, _record(row)) for row in s.scalars(query)]

    def _link(self, previous: bytes, seq: int, at: float, r: Record) -> bytes:
        return mac(
            self._key,
            "audit-link",
            previous,
            seq,
            round(at * 1_000_000),
            r.officer,
            r.action,
            r.origin,
            r.channel_id or "",
            r.item_hash or b"",
            r.detail,
        )

    def _open(self, row: Row[Any]) -> Record | None:
        """The record of a raw row, or None if one of its sealed fields does not open."""
        try:
            o, a, origin, d = (
                open_value(self._station_key, f"audit.{f}", str, getattr(row, f))
                for f in SEALED_FIELDS
            )
        except BrokenSeal:
            return None
        return Record(o, a, origin, row.channel_id, row.item_hash, d)

    def _officer_key(self, officer: str) -> bytes:
        """The keyed digest records are filtered by (officer names are sealed)."""
        return blind_index(self._station_key, "audit.officer", officer)

    def _tag(self, seq: int, link: bytes) -> bytes:
        return mac(self._key, "audit-head", seq, link)


def _fit(r: Record) -> Record:
    """The record cut to the column sizes, so what is chained is what is stored."""
    return Record(
        r.officer[:100],
        r.action[:40],
        r.origin[:100],
        r.channel_id,
        r.item_hash,
        r.detail[:MAX_DETAIL],
    )


def _columns(r: Record) -> dict[str, object]:
    return {
        "officer": r.officer, "action": r.action, "origin": r.origin,
        "channel_id": r.channel_id, "item_hash": r.item_hash, "detail": r.detail,
    }  # fmt: skip


def _record(row: AuditRow) -> Record:
    return Record(row.officer, row.action, row.origin, row.channel_id, row.item_hash, row.detail)


SEALED_FIELDS = ("officer", "action", "origin", "detail")
# The sealed fields as stored, so that one that does not open is a broken link, not a crash.
_RAW = [type_coerce(getattr(AuditRow, f), LargeBinary).label(f) for f in SEALED_FIELDS]


def _raw_rows(s: Session) -> Iterator[Row[Any]]:
    """Every row in sequence order, a batch at a time, its sealed fields unopened."""
    after = 0
    columns = (AuditRow.seq, AuditRow.at, AuditRow.link, AuditRow.channel_id, AuditRow.item_hash)
    while True:
        query = select(*columns, *_RAW).where(AuditRow.seq > after).order_by(AuditRow.seq)
        batch: list[Row[Any]] = list(s.execute(query.limit(VERIFY_BATCH)))
        if not batch:
            return
        yield from batch
        after = batch[-1].seq
