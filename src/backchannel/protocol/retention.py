"""Retention by agreement: policies both sides accepted, holds, and receipts.

A *policy* says which items of a channel are destroyed how long after what.  Either
side proposes a version of it; the other side accepts or declines that version (its
answer names the version's item hash, which both stations hold alike), and the side
that proposed it may withdraw it (a decline of its own).  The version in force is the
accepted one with the highest number, so a change is a new version, and the old one
stays in force until the new one is accepted; a version with no rules ends the policy.
Nothing is destroyed under a version nobody accepted.

Version N+1 of a policy counts only once a version N of it was answered (a counter to
a pending version is a decline and a new version, sent together).  So every answer
was given to the latest version its sender knew of, and an acceptance that crossed a
withdrawal loses to it, whatever order the stations recorded them in.

A *hold* is placed by one side on some items (or all of the channel); while it stands
that side destroys none of them, and the other side sees it.  A *receipt* says which
items a side destroyed under which version, so each side knows the other kept its
word.

This module is pure: :func:`fold` reads the items of one channel in any order into the
same register, so both stations hold the same one.  Where a misbehaving peer sends
items no honest station would (two answers to one version, a hold id placed twice,
two receipts for one item), the fold still decides the same way in any order: a
decline beats an acceptance, placements of one hold id merge, the lowest policy hash
wins a receipt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, ClassVar, Literal

import msgspec

from .items import MAX_TEXT_CHARS, Hash, Item, check_clearances, register_item_type

PolicyId = Annotated[bytes, msgspec.Meta(min_length=16, max_length=16)]
# What a period counts from: the item's recording, or its acknowledgement by a person.
Counted = Literal["sent", "acknowledged"]
# The item types a rule may name: bodies nothing else is folded from.  Proposals,
# releases and notifications feed registers both sides keep; they are not destroyable.
DESTRUCTIBLE = ("message", "document", "ack")
MAX_RULES = 8
MAX_HOLD_ITEMS = 500
MAX_RECEIPT_ITEMS = 500
MAX_VERSION = 10_000
MAX_PERIOD_S = 100 * 366 * 86400
MAX_TITLE_CHARS = 200
_TITLE = re.compile(r"[^\x00-\x1f\x7f]+")


class Rule(msgspec.Struct, array_like=True, frozen=True):
    """Items of these types (carrying every one of these labels) are destroyed
    ``period_s`` seconds after they were sent (or acknowledged)."""

    item_types: tuple[str, ...]
    period_s: int
    after: Counted = "sent"
    labels: tuple[str, ...] = ()

    def check(self) -> None:
        if not self.item_types:
            raise ValueError("a retention rule names at least one item type")
        unknown = [t for t in self.item_types if t not in DESTRUCTIBLE]
        if unknown:
            raise ValueError(
                f"a retention rule may name {', '.join(DESTRUCTIBLE)}, not {unknown[0][:40]!r}"
            )
        if len(set(self.item_types)) != len(self.item_types):
            raise ValueError("a retention rule names each item type once")
        if self.period_s < 0:
            raise ValueError("a retention period cannot be negative")
        if self.period_s > MAX_PERIOD_S:
            raise ValueError("a retention period is at most 100 years")
        check_clearances(self.labels)


class RetentionPolicy(Item, frozen=True):
    """One version of a policy, proposed by its sender; ``rules`` empty ends it."""

    item_type: ClassVar[str] = "retention-policy"

    policy_id: PolicyId
    version: Annotated[int, msgspec.Meta(ge=1, le=MAX_VERSION)]
    title: str
    rules: tuple[Rule, ...]

    def validate(self) -> None:
        if not _TITLE.fullmatch(self.title) or len(self.title) > MAX_TITLE_CHARS:
            raise ValueError(f"a policy title is one line of 1 to {MAX_TITLE_CHARS} characters")
        if len(self.rules) > MAX_RULES:
            raise ValueError(f"a policy has at most {MAX_RULES} rules")
        for rule in self.rules:
            rule.check()


class RetentionAnswer(Item, frozen=True):
    """The other side accepts (or declines) one version, named by its item hash."""

    item_type: ClassVar[str] = "retention-answer"

    policy_hash: Hash
    accept: bool
    note: str = ""

    def validate(self) -> None:
        if len(self.note) > MAX_TEXT_CHARS:
            raise ValueError(f"an answer's note is at most {MAX_TEXT_CHARS} characters")


class RetentionHold(Item, frozen=True):
    """Its sender destroys none of ``items`` (none of the channel's, if empty) while
    the hold stands; the same ``hold_id`` with ``placed`` false lifts it."""

    item_type: ClassVar[str] = "retention-hold"

    hold_id: PolicyId
    placed: bool
    reason: str
    items: tuple[Hash, ...] = ()

    def validate(self) -> None:
        if self.placed and not self.reason.strip():
            raise ValueError("a hold says why it is placed")
        if len(self.reason) > MAX_TEXT_CHARS:
            raise ValueError(f"a hold's reason is at most {MAX_TEXT_CHARS} characters")
        if len(self.items) > MAX_HOLD_ITEMS or len(set(self.items)) != len(self.items):
            raise ValueError(f"a hold names at most {MAX_HOLD_ITEMS} distinct items")


class RetentionReceipt(Item, frozen=True):
    """Its sender destroyed these items' bodies under that policy version."""

    item_type: ClassVar[str] = "retention-receipt"

    policy_hash: Hash
    destroyed: tuple[Hash, ...]

    def validate(self) -> None:
        if not 1 <= len(self.destroyed) <= MAX_RECEIPT_ITEMS:
            raise ValueError(f"a receipt names 1 to {MAX_RECEIPT_ITEMS} items")
        if len(set(self.destroyed)) != len(self.destroyed):
            raise ValueError("a receipt names each item once")


for _cls in (RetentionPolicy, RetentionAnswer, RetentionHold, RetentionReceipt):
    register_item_type(_cls)


@dataclass
class Version:
    """One version of a policy as the register holds it."""

    item_hash: bytes
    policy: RetentionPolicy
    by: str  # the station that proposed it
    state: str = "proposed"  # proposed, accepted, declined, withdrawn, superseded
    answered_by: str = ""

    @property
    def answered(self) -> bool:
        return self.state in ("accepted", "declined", "withdrawn")


@dataclass
class Hold:
    hold_id: bytes
    by: str
    reason: str
    items: tuple[bytes, ...]  # empty: all of the channel's
    lifted: bool = False


@dataclass
class Register:
    """The channel's policies, holds and receipts, the same at both stations."""

    versions: dict[bytes, Version] = field(default_factory=dict)  # by item hash
    holds: dict[tuple[str, bytes], Hold] = field(default_factory=dict)  # (by, id)
    # (station, item hash) -> the version it was destroyed under, by that station.
    destroyed: dict[tuple[str, bytes], bytes] = field(default_factory=dict)

    def in_force(self) -> dict[bytes, Version]:
        """Per policy id, the accepted version with the highest number (if it has rules)."""
        return {pid: v for pid, v in _accepted_tops(self).items() if v.policy.rules}

    def latest(self, policy_id: bytes) -> Version | None:
        mine = [v for v in self.versions.values() if v.policy.policy_id == policy_id]
        return max(mine, key=_rank, default=None)

    def held_by(self, station: str) -> tuple[set[bytes], bool]:
        """The items ``station`` holds, and whether it holds the whole channel."""
        items: set[bytes] = set()
        for hold in self.holds.values():
            if hold.by == station and not hold.lifted:
                if not hold.items:
                    return items, True
                items.update(hold.items)
        return items, False


def fold(items: Iterable[tuple[bytes, str, Item]]) -> Register:
    """The register from (item hash, sending station, item) of one channel, any order.

    Everything is gathered first and decided after, so the order two stations recorded
    crossing items in does not change the result.
    """
    register = Register()
    proposed: list[Version] = []
    answers: dict[bytes, set[tuple[str, bool]]] = {}
    lifted: set[tuple[str, bytes]] = set()
    for item_hash, by, item in items:
        if isinstance(item, RetentionPolicy):
            proposed.append(Version(item_hash, item, by))
        elif isinstance(item, RetentionAnswer):
            answers.setdefault(item.policy_hash, set()).add((by, item.accept))
        elif isinstance(item, RetentionHold):
            if item.placed:
                _place(register, by, item)
            else:
                lifted.add((by, item.hold_id))
        elif isinstance(item, RetentionReceipt):
            for destroyed in item.destroyed:
                key = (by, destroyed)
                register.destroyed[key] = min(
                    register.destroyed.get(key, item.policy_hash), item.policy_hash
                )
    for version in _in_sequence(proposed, answers):
        register.versions[version.item_hash] = version
    for key in lifted & register.holds.keys():
        register.holds[key].lifted = True  # a lifted hold id stays lifted
    _supersede(register)
    return register


def _in_sequence(
    proposed: list[Version], answers: dict[bytes, set[tuple[str, bool]]]
) -> list[Version]:
    """The versions that count, answered: version 1 always, version N+1 only once a
    version N of the same policy (that counts) was answered."""
    by_number: dict[tuple[bytes, int], list[Version]] = {}
    for v in proposed:
        by_number.setdefault((v.policy.policy_id, v.policy.version), []).append(v)
    counted: dict[bytes, Version] = {}
    for (policy_id, number), versions in sorted(by_number.items()):
        before = by_number.get((policy_id, number - 1), ())
        if number > 1 and not any(v.answered for v in before if v.item_hash in counted):
            continue
        for v in versions:
            _answer(v, answers.get(v.item_hash, set()))
            counted[v.item_hash] = v
    return list(counted.values())


def _answer(version: Version, answers: set[tuple[str, bool]]) -> None:
    """The counterpart accepts or declines; the proposer may only withdraw.  A decline
    or withdrawal beats an acceptance (nothing is destroyed without consent)."""
    theirs = {accept for by, accept in answers if by != version.by}
    if any(by == version.by and not accept for by, accept in answers):
        version.state, version.answered_by = "withdrawn", version.by
    elif theirs:
        version.state = "accepted" if theirs == {True} else "declined"
        version.answered_by = "in" if version.by == "out" else "out"


def _place(register: Register, by: str, hold: RetentionHold) -> None:
    """A hold, merged with any other placement of the same id (the union of their
    items, the whole channel if either says so; the first reason in sorted order)."""
    key = (by, hold.hold_id)
    old = register.holds.get(key)
    if old is None:
        register.holds[key] = Hold(hold.hold_id, by, hold.reason, hold.items)
        return
    items = () if not old.items or not hold.items else tuple(sorted({*old.items, *hold.items}))
    register.holds[key] = Hold(hold.hold_id, by, min(old.reason, hold.reason), items)


def _supersede(register: Register) -> None:
    """An unanswered version with a later one that counts, or below the one in force,
    will never be answered."""
    force = {pid: v.policy.version for pid, v in _accepted_tops(register).items()}
    newest: dict[bytes, int] = {}
    for v in register.versions.values():
        pid = v.policy.policy_id
        newest[pid] = max(newest.get(pid, 0), v.policy.version)
    for v in register.versions.values():
        pid, number = v.policy.policy_id, v.policy.version
        if v.state == "proposed" and (number <= force.get(pid, 0) or number < newest[pid]):
            v.state = "superseded"


def _accepted_tops(register: Register) -> dict[bytes, Version]:
    """Per policy id, the accepted version with the highest (number, hash)."""
    tops: dict[bytes, Version] = {}
    for v in register.versions.values():
        best = tops.get(v.policy.policy_id)
        if v.state == "accepted" and (best is None or _rank(v) > _rank(best)):
            tops[v.policy.policy_id] = v
    return tops


def _rank(v: Version) -> tuple[int, bytes]:
    return v.policy.version, v.item_hash
