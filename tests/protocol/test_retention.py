"""The retention register folded from a channel's items: the same in any order."""

from __future__ import annotations

import random

import pytest

from backchannel.protocol.errors import LocalProtocolError
from backchannel.protocol.items import Item, decode_item, encode_item
from backchannel.protocol.retention import (
    RetentionAnswer,
    RetentionHold,
    RetentionPolicy,
    RetentionReceipt,
    Rule,
    fold,
)

PID = bytes(16)
RULES = (Rule(("message",), 86400),)


def policy(version: int, rules: tuple[Rule, ...] = RULES) -> RetentionPolicy:
    return RetentionPolicy(policy_id=PID, version=version, title="Routine", rules=rules)


V1, V2, V3 = b"\x01" * 32, b"\x02" * 32, b"\x0b" * 32
HOLD2 = b"\x08" * 16
ITEMS = [
    (V1, "out", policy(1)),
    (b"\x03" * 32, "in", RetentionAnswer(policy_hash=V1, accept=True)),
    (V2, "in", policy(2, (Rule(("message", "ack"), 3600),))),
    (b"\x04" * 32, "out", RetentionAnswer(policy_hash=V2, accept=True)),
    (b"\x05" * 32, "in", RetentionHold(hold_id=PID, placed=True, reason="inquiry")),
    (b"\x06" * 32, "in", RetentionHold(hold_id=PID, placed=False, reason="")),
    (b"\x07" * 32, "out", RetentionReceipt(policy_hash=V2, destroyed=(b"\x09" * 32,))),
    # What no honest station sends, decided the same way in any order: a second answer
    # that contradicts the first, a hold id placed twice and re-placed after its lift,
    # a second receipt for the same item, and a version that skips a number.
    (b"\x0c" * 32, "out", RetentionAnswer(policy_hash=V2, accept=False)),
    (b"\x0d" * 32, "in", RetentionHold(hold_id=HOLD2, placed=True, reason="b", items=(V1,))),
    (b"\x0e" * 32, "in", RetentionHold(hold_id=HOLD2, placed=True, reason="a", items=(V2,))),
    (b"\x0f" * 32, "in", RetentionHold(hold_id=PID, placed=True, reason="again")),
    (b"\x10" * 32, "out", RetentionReceipt(policy_hash=V1, destroyed=(b"\x09" * 32,))),
    (V3, "in", policy(10_000)),
]


def summary(items: list[tuple[bytes, str, Item]]) -> tuple[object, ...]:
    register = fold(items)
    return (
        sorted((v.policy.version, v.state) for v in register.versions.values()),
        [v.item_hash for v in register.in_force().values()],
        {k: (h.lifted, h.reason, h.items) for k, h in register.holds.items()},
        register.destroyed,
    )


def test_the_register_is_the_same_whatever_order_the_items_came_in() -> None:
    expected = summary(ITEMS)
    assert expected[0] == [(1, "accepted"), (2, "declined")] and expected[1] == [V1]
    assert expected[2] == {
        ("in", PID): (True, "again", ()),
        ("in", HOLD2): (False, "a", (V1, V2)),
    }
    assert expected[3] == {("out", b"\x09" * 32): V1}
    rng = random.Random(19)
    for _ in range(3000):
        order = rng.sample(ITEMS, len(ITEMS))
        assert summary(order) == expected, order


def test_only_the_latest_version_can_be_accepted_and_a_withdrawal_beats_a_crossing_accept() -> None:
    accept_v1 = (b"\x03" * 32, "in", RetentionAnswer(policy_hash=V1, accept=True))
    withdraw_v1 = (b"\x04" * 32, "out", RetentionAnswer(policy_hash=V1, accept=False))
    crossed = fold([(V1, "out", policy(1)), accept_v1, withdraw_v1])
    assert crossed.versions[V1].state == "withdrawn" and not crossed.in_force()
    # Version 2 sent while version 1 waits for its answer (no honest station does)
    # does not replace it: the acceptance of version 1 stands, and version 2 waits.
    early = fold([(V1, "out", policy(1)), (V2, "out", policy(2)), accept_v1])
    assert early.versions[V1].state == "accepted" and early.versions[V2].state == "proposed"
    waiting = fold([(V1, "out", policy(1)), (V2, "out", policy(2))]).latest(PID)
    assert waiting is not None and waiting.item_hash == V1
    # A counter is a decline and a new version; an acceptance of the old one after it
    # (no honest station sends one) loses to the decline.
    counter = fold(
        [
            (V1, "out", policy(1)),
            (b"\x05" * 32, "in", RetentionAnswer(policy_hash=V1, accept=False)),
            (V2, "in", policy(2)),
            accept_v1,
        ]
    )
    assert counter.versions[V1].state == "declined" and counter.latest(PID) is counter.versions[V2]


def test_a_side_cannot_accept_its_own_version_and_an_empty_version_ends_the_policy() -> None:
    own = fold([(V1, "out", policy(1)), (V2, "out", RetentionAnswer(policy_hash=V1, accept=True))])
    assert own.versions[V1].state == "proposed" and not own.in_force()
    ended = fold(
        [
            (V1, "out", policy(1)),
            (b"\x03" * 32, "in", RetentionAnswer(policy_hash=V1, accept=True)),
            (V2, "in", policy(2, ())),
            (b"\x04" * 32, "out", RetentionAnswer(policy_hash=V2, accept=True)),
        ]
    )
    assert not ended.in_force()


def test_a_version_that_skips_a_number_does_not_count() -> None:
    register = fold([(V1, "out", policy(1)), (V3, "in", policy(10_000))])
    assert list(register.versions) == [V1] and register.latest(PID) is register.versions[V1]


def test_a_version_crossing_one_that_came_into_force_is_superseded() -> None:
    """Both sides propose a version 2 at once; one of them is accepted."""
    register = fold(
        [
            (V1, "out", policy(1)),
            (b"\x03" * 32, "in", RetentionAnswer(policy_hash=V1, accept=True)),
            (V2, "out", policy(2)),
            (V3, "in", policy(2, (Rule(("ack",), 60),))),
            (b"\x04" * 32, "in", RetentionAnswer(policy_hash=V2, accept=True)),
        ]
    )
    assert register.versions[V3].state == "superseded"
    assert list(register.in_force().values()) == [register.versions[V2]]


def test_holds_stand_until_their_own_side_lifts_them() -> None:
    some = RetentionHold(hold_id=PID, placed=True, reason="inquiry", items=(V1,))
    everything = RetentionHold(hold_id=b"\x08" * 16, placed=True, reason="legal duty")
    register = fold(
        [
            (b"\x05" * 32, "in", some),
            (b"\x06" * 32, "out", RetentionHold(hold_id=PID, placed=False, reason="")),  # not ours
            (b"\x07" * 32, "in", everything),
            (b"\x09" * 32, "in", RetentionHold(hold_id=bytes(range(16)), placed=False, reason="")),
            (b"\x0a" * 32, "in", RetentionAnswer(policy_hash=V2, accept=True)),  # names nothing
        ]
    )
    assert register.held_by("in")[1] is True  # the whole channel
    assert register.held_by("out") == (set(), False)
    register.holds[("in", everything.hold_id)].lifted = True
    assert register.held_by("in") == ({V1}, False)
    assert register.latest(PID) is None and not register.versions


@pytest.mark.parametrize(
    ("item", "error"),
    [
        (policy(1, (Rule(("message", "poll"), 60),)), "not 'poll'"),
        (policy(1, (Rule(("message",), 101 * 366 * 86400),)), "at most 100 years"),
        (policy(1, RULES * 9), "at most 8 rules"),
        (RetentionAnswer(policy_hash=V1, accept=True, note="x" * 70_000), "at most"),
        (RetentionHold(hold_id=PID, placed=True, reason="x" * 70_000), "at most"),
        (RetentionHold(hold_id=PID, placed=True, reason="r", items=(V1, V1)), "distinct"),
        (RetentionReceipt(policy_hash=V1, destroyed=(V1, V1)), "each item once"),
        (policy(1, (Rule(("message",), -1),)), "cannot be negative"),
        (policy(1, (Rule(("release-request",), 60),)), "may name message, document, ack"),
        (policy(1, (Rule(("message", "message"), 60),)), "each item type once"),
        (RetentionPolicy(policy_id=PID, version=1, title="two\nlines", rules=RULES), "one line"),
        (RetentionHold(hold_id=PID, placed=True, reason=" "), "says why"),
        (RetentionReceipt(policy_hash=V1, destroyed=()), "1 to 500"),
    ],
)
def test_bad_retention_items_are_refused_before_sending(item: object, error: str) -> None:
    with pytest.raises(LocalProtocolError, match=error):
        encode_item(item)  # type: ignore[arg-type]


def test_a_policy_round_trips_on_the_wire() -> None:
    item = policy(3, (Rule(("message", "document"), 600, "acknowledged", ("negotiation",)),))
    assert decode_item("retention-policy", encode_item(item)) == item
