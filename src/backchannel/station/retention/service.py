"""Retention: proposing and answering policies, holds, and destroying what is due.

The register is folded from the channel's retention items each time it is read
(``protocol.retention.fold``), so it is the same at both stations.  Each pass of the
deadline watch (``apply``) destroys, per channel, the bodies of our copies that a policy
in force names and whose time has come — never an item held here, never one jointly
released — and sends one receipt per policy version, in the same transaction.  The
destruction itself is the ledger's (``Ledger.destroy``): keys, tombstones, and what
each feature derived from the items.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backchannel.protocol import Channel, Item
from backchannel.protocol.release import Disclosure
from backchannel.protocol.retention import (
    MAX_RECEIPT_ITEMS,
    MAX_VERSION,
    Register,
    RetentionAnswer,
    RetentionHold,
    RetentionPolicy,
    RetentionReceipt,
    Rule,
    Version,
    fold,
)
from backchannel.station.core.audit import Record
from backchannel.station.core.errors import ChannelNotFound, InvalidRequest, StationError
from backchannel.station.core.items import Tombstone
from backchannel.station.core.ledger import Ledger
from backchannel.station.retention.hooks import RETENTION_TYPES
from backchannel.store.schema import ChannelRow, TranscriptRow

log = logging.getLogger("backchannel.retention")
# How long after an item's time a side may take to destroy it and say so before the
# other side shows it as overdue (clocks differ; a station may be down for a while).
GRACE_S = 3600.0
ACK_TYPES = ("ack", Tombstone.item_type)  # an acknowledgement, destroyed or not
KEPT = (Disclosure.REQUESTED.value, Disclosure.RELEASED.value)  # never destroyed


@dataclass(frozen=True)
class Standing:
    """Where one policy version in force stands at this station, for both sides."""

    version: Version
    destroyed_here: int
    destroyed_there: int
    overdue_here: tuple[str, ...]  # item hashes (hex) due and not destroyed here
    overdue_there: tuple[str, ...]  # due at the counterpart, and no receipt from it


class Retention:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    # -- the register ----------------------------------------------------------------

    def register(self, s: Session, channel_id: str) -> Register:
        query = (
            select(TranscriptRow)
            .where(
                TranscriptRow.channel_id == channel_id,
                TranscriptRow.item_type.in_(RETENTION_TYPES),
            )
            .order_by(TranscriptRow.id)
        )
        return fold(
            (row.envelope_hash, row.direction, self.ledger.item_of(s, row))
            for row in s.scalars(query)
        )

    def standing(self, s: Session, channel_id: str, now: float) -> list[Standing]:
        register = self.register(s, channel_id)
        found = []
        for version in register.in_force().values():
            here = self.due(s, channel_id, register, version, now - GRACE_S, side="out")
            there = self.due(s, channel_id, register, version, now - GRACE_S, side="in")
            ours = _receipted(s, self.ledger, channel_id, version, now - GRACE_S)
            found.append(
                Standing(
                    version,
                    _destroyed(s, channel_id, register, version, "out"),
                    _destroyed(s, channel_id, register, version, "in"),
                    tuple(r.envelope_hash.hex() for r in here),
                    tuple(h.hex() for h in _missing_receipts(register, there, ours)),
                )
            )
        return found

    # -- proposing, answering, holding ----------------------------------------------

    def propose(
        self,
        channel_id: str,
        title: str,
        rules: tuple[Rule, ...],
        policy_id: str = "",
        audit: Record | None = None,
    ) -> str:
        """Send a new policy (or the next version of ``policy_id``); its item hash.

        A next version needs the latest one answered: a pending version of the
        counterpart's is declined by the same transaction (a counter), and one of ours
        waits for its answer unless we withdraw it."""
        if not policy_id and not rules:
            raise InvalidRequest("a new retention policy has at least one rule")
        with self.ledger.locked(channel_id) as (s, row, channel):
            pid, number = os.urandom(16), 1
            if policy_id:
                latest = self.register(s, row.id).latest(_policy_id(policy_id))
                if latest is None:
                    raise ChannelNotFound("no retention policy of this channel has that id")
                if latest.state == "proposed" and latest.by == "out":
                    raise InvalidRequest(
                        f"our version {latest.policy.version} of that policy waits for the "
                        "counterpart's answer; withdraw it (decline it) before proposing another"
                    )
                if latest.policy.version >= MAX_VERSION:
                    raise InvalidRequest(f"a policy has at most {MAX_VERSION} versions")
                if latest.state == "proposed":
                    counter = RetentionAnswer(policy_hash=latest.item_hash, accept=False)
                    self.ledger.send_in(s, row, channel, counter)  # audited as the proposal
                pid, number = latest.policy.policy_id, latest.policy.version + 1
            item = RetentionPolicy(policy_id=pid, version=number, title=title, rules=rules)
            return self._send(s, row, channel, item, audit)

    def answer(
        self,
        channel_id: str,
        version_hash: str,
        accept: bool,
        note: str = "",
        audit: Record | None = None,
    ) -> str:
        """Accept or decline the counterpart's latest version of a policy, or withdraw
        (decline) our own while it waits."""
        with self.ledger.locked(channel_id) as (s, row, channel):
            register = self.register(s, row.id)
            version = register.versions.get(_hash(version_hash))
            if version is None:
                raise ChannelNotFound("no retention policy version of this channel has that hash")
            if version.by == "out" and accept:
                raise InvalidRequest("the counterpart accepts the versions we propose, not us")
            if version.state != "proposed":
                raise InvalidRequest(f"that version is {version.state} already")
            if register.latest(version.policy.policy_id) is not version:
                raise InvalidRequest("a later version of that policy was proposed; answer it")
            item = RetentionAnswer(policy_hash=version.item_hash, accept=accept, note=note)
            return self._send(s, row, channel, item, audit)

    def hold(
        self,
        channel_id: str,
        reason: str,
        items: Iterable[str] = (),
        audit: Record | None = None,
    ) -> str:
        """Place a hold here on these items (or all of the channel); the hold's id."""
        with self.ledger.locked(channel_id) as (s, row, channel):
            hashes = tuple(dict.fromkeys(_hash(h) for h in items))
            named = _rows(s, row.id, hashes)
            missing = [h.hex()[:16] for h in hashes if h not in named]
            if missing:
                raise ChannelNotFound(f"no item of this channel has the hash {missing[0]}…")
            hold_id = os.urandom(16)
            item = RetentionHold(hold_id=hold_id, placed=True, reason=reason, items=hashes)
            self._send(s, row, channel, item, audit)
            return hold_id.hex()

    def lift(self, channel_id: str, hold_id: str, audit: Record | None = None) -> None:
        with self.ledger.locked(channel_id) as (s, row, channel):
            held = self.register(s, row.id).holds.get(("out", _policy_id(hold_id)))
            if held is None or held.lifted:
                raise ChannelNotFound("no hold of ours on this channel has that id")
            item = RetentionHold(hold_id=held.hold_id, placed=False, reason="")
            self._send(s, row, channel, item, audit)

    def _send(
        self, s: Session, row: ChannelRow, channel: Channel, item: Item, audit: Record | None
    ) -> str:
        self.ledger.send_in(s, row, channel, item, audit)
        sent = s.scalars(
            select(TranscriptRow)
            .where(TranscriptRow.channel_id == row.id, TranscriptRow.direction == "out")
            .order_by(TranscriptRow.seq.desc())
            .limit(1)
        ).one()
        return sent.envelope_hash.hex()

    # -- destroying --------------------------------------------------------------------

    def apply(self) -> int:
        """Destroy what is due here on every active channel (after finishing any
        destruction a crash cut short); the number destroyed."""
        destroyed = self.ledger.finish_destroying()
        for status in self.ledger.statuses():
            if status.pairing != "active" or status.closed is not None:
                continue
            try:
                destroyed += self._apply_channel(status.channel_id)
            except StationError as exc:  # a closed or busy channel: the next pass
                log.warning("retention on %s waits: %s", status.channel_id[:12], exc)
            except Exception:  # one channel's fault does not stop the others'
                log.exception("retention on %s failed", status.channel_id[:12])
        return destroyed

    def _apply_channel(self, channel_id: str) -> int:
        with self.ledger.db.reading() as s:  # most passes find nothing: no lock for that
            register = self.register(s, channel_id)
            now = self.ledger.clock()
            if not any(
                self.due(s, channel_id, register, v, now, side="out")
                for v in register.in_force().values()
            ):
                return 0
        count = 0
        with self.ledger.locked(channel_id) as (s, row, channel):
            register, now = self.register(s, row.id), self.ledger.clock()
            for version in register.in_force().values():
                rows = self.due(s, row.id, register, version, now, side="out")
                if not rows:
                    continue
                stone = Tombstone(
                    was="",
                    policy_hash=version.item_hash,
                    policy_title=version.policy.title,
                    destroyed_at=now,
                )
                self.ledger.destroy(s, rows, stone)
                policy = version.policy
                detail = f"{len(rows)} items under “{policy.title}” v{policy.version}"
                self.ledger.audit.append(
                    s,
                    [Record("station", "destroy", "retention", row.id, version.item_hash, detail)],
                )
                hashes = [r.envelope_hash for r in rows]
                for start in range(0, len(hashes), MAX_RECEIPT_ITEMS):
                    part = tuple(hashes[start : start + MAX_RECEIPT_ITEMS])
                    receipt = RetentionReceipt(policy_hash=version.item_hash, destroyed=part)
                    self.ledger.send_in(s, row, channel, receipt)
                count += len(rows)
        if count:
            self.ledger.on_outbox()
            log.info("destroyed %d items on %s under retention policies", count, channel_id[:12])
        return count

    def due(
        self,
        s: Session,
        channel_id: str,
        register: Register,
        version: Version,
        now: float,
        *,
        side: str,
    ) -> list[TranscriptRow]:
        """Our copies of the items ``side`` ("out": us) must have destroyed by ``now``
        under ``version``: not destroyed here, not held by that side, not released nor
        in a release request still open (its consents may be on their way)."""
        held, all_held = register.held_by(side)
        if all_held:
            return []
        released = {
            h for h, state in self.ledger.hooks.disclosure(s, channel_id).items()
            if state in KEPT
        }  # fmt: skip
        found: dict[bytes, TranscriptRow] = {}
        for rule in version.policy.rules:
            for row in _named(s, channel_id, rule, now):
                h = row.envelope_hash
                if h in held or h in released or h in found:
                    continue
                if set(rule.labels) <= set(row.clearances.split()):
                    found[h] = row
        return list(found.values())


def _named(s: Session, channel_id: str, rule: Rule, now: float) -> list[TranscriptRow]:
    """The channel's undestroyed items of the rule's types whose period has run out."""
    limit = now - rule.period_s
    query = select(TranscriptRow).where(
        TranscriptRow.channel_id == channel_id, TranscriptRow.item_type.in_(rule.item_types)
    )
    if rule.after == "sent":
        return list(s.scalars(query.where(TranscriptRow.created_at <= limit)))
    acked = (
        select(TranscriptRow.refers_to, func.min(TranscriptRow.created_at).label("at"))
        .where(TranscriptRow.channel_id == channel_id, TranscriptRow.item_type.in_(ACK_TYPES))
        .group_by(TranscriptRow.refers_to)
        .subquery()
    )
    query = query.join(acked, acked.c.refers_to == TranscriptRow.envelope_hash)
    return list(s.scalars(query.where(acked.c.at <= limit)))


def _rows(s: Session, channel_id: str, hashes: tuple[bytes, ...]) -> set[bytes]:
    if not hashes:
        return set()
    query = select(TranscriptRow.envelope_hash).where(
        TranscriptRow.channel_id == channel_id, TranscriptRow.envelope_hash.in_(hashes)
    )
    return set(s.scalars(query))


def _destroyed(s: Session, channel_id: str, register: Register, version: Version, side: str) -> int:
    """How many items of this channel ``side``'s receipts say it destroyed under
    ``version`` (a receipt naming hashes the channel does not have counts none)."""
    said = tuple(
        h for (by, h), under in register.destroyed.items()
        if by == side and under == version.item_hash
    )  # fmt: skip
    return sum(len(_rows(s, channel_id, said[i : i + 500])) for i in range(0, len(said), 500))


def _receipted(
    s: Session, ledger: Ledger, channel_id: str, version: Version, before: float
) -> set[bytes]:
    """The items we destroyed under ``version`` and said so before ``before``."""
    query = select(TranscriptRow).where(
        TranscriptRow.channel_id == channel_id,
        TranscriptRow.direction == "out",
        TranscriptRow.item_type == RetentionReceipt.item_type,
        TranscriptRow.created_at <= before,
    )
    found: set[bytes] = set()
    for row in s.scalars(query):
        receipt = ledger.item_of(s, row)
        if isinstance(receipt, RetentionReceipt) and receipt.policy_hash == version.item_hash:
            found.update(receipt.destroyed)
    return found


def _missing_receipts(
    register: Register, due_there: list[TranscriptRow], ours: set[bytes]
) -> list[bytes]:
    """Items the counterpart owes a receipt for: due there by our reckoning, or
    destroyed here (over ``GRACE_S`` ago), and in none of its receipts nor its holds."""
    held, all_held = register.held_by("in")
    if all_held:
        return []
    owed = {r.envelope_hash for r in due_there} | ours
    return sorted(h for h in owed if ("in", h) not in register.destroyed and h not in held)


def _hash(value: str) -> bytes:
    return _hex(value, 32, "an item hash is 64 hex digits")


def _policy_id(value: str) -> bytes:
    return _hex(value, 16, "a policy or hold id is 32 hex digits")


def _hex(value: str, size: int, error: str) -> bytes:
    """``size`` bytes given as hex digits, or InvalidRequest with ``error``."""
    try:
        raw = bytes.fromhex(value.strip())
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise InvalidRequest(error)
    return raw
