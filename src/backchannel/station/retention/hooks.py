"""What the retention feature registers with the ledger: its four item types.

Policies, answers, holds and receipts are never destroyed themselves: the register
(``service.Retention.register``) is folded from them whenever it is read, at both
stations alike.  Each is described in one line; none carries labels, since a policy
names item types and labels, never an item's content.
"""

from __future__ import annotations

from backchannel.protocol import Item
from backchannel.protocol.retention import (
    RetentionAnswer,
    RetentionHold,
    RetentionPolicy,
    RetentionReceipt,
    Rule,
)
from backchannel.station.core.hooks import Feature, Forget, ItemHooks, Shown

RETENTION_ITEMS = (RetentionPolicy, RetentionAnswer, RetentionHold, RetentionReceipt)
RETENTION_TYPES = tuple(t.item_type for t in RETENTION_ITEMS)


def period(seconds: int) -> str:
    """A period in the largest unit that divides it ("30 days", "90 s")."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} s"


def rule_words(rule: Rule) -> str:
    what = " and ".join(f"{t}s" for t in rule.item_types)
    labelled = f" labelled {', '.join(rule.labels)}" if rule.labels else ""
    counted = "sent" if rule.after == "sent" else "acknowledged"
    return f"{what}{labelled}: destroyed {period(rule.period_s)} after they were {counted}"


def _side(shown: Shown) -> str:
    return "we" if shown.ours else "they"


def _describe_policy(item: Item, shown: Shown) -> str:
    assert isinstance(item, RetentionPolicy)
    if not item.rules:
        return f"{_side(shown)} propose to end the retention policy “{item.title}”"
    rules = "; ".join(rule_words(r) for r in item.rules)
    return f"{_side(shown)} propose retention policy “{item.title}” v{item.version}: {rules}"


def _describe_answer(item: Item, shown: Shown) -> str:
    assert isinstance(item, RetentionAnswer)
    verb = "accept" if item.accept else "decline"
    note = f" — {item.note}" if item.note else ""
    return f"{_side(shown)} {verb} retention policy version {item.policy_hash.hex()[:12]}{note}"


def _describe_hold(item: Item, shown: Shown) -> str:
    assert isinstance(item, RetentionHold)
    scope = f"{len(item.items)} items" if item.items else "every item of the channel"
    if not item.placed:
        return f"{_side(shown)} lift the hold {item.hold_id.hex()[:12]}"
    return f"{_side(shown)} place a hold on {scope}, so none is destroyed there: {item.reason}"


def _describe_receipt(item: Item, shown: Shown) -> str:
    assert isinstance(item, RetentionReceipt)
    return (
        f"{_side(shown)} destroyed {len(item.destroyed)} items under retention policy version "
        f"{item.policy_hash.hex()[:12]}"
    )


def _page(_item: Item) -> str:
    return "retention"


def feature(forget: Forget) -> Feature:
    """The feature; ``forget`` is the leak index's (the assembly builds the index, so it
    hands the index's forgetting to the feature that destroys)."""
    return Feature(
        "retention",
        items=(
            ItemHooks(RetentionPolicy, "Retention policy", describe=_describe_policy, page=_page),
            ItemHooks(RetentionAnswer, "Retention answer", describe=_describe_answer, page=_page),
            ItemHooks(RetentionHold, "Hold", describe=_describe_hold, page=_page),
            ItemHooks(
                RetentionReceipt, "Destruction receipt", describe=_describe_receipt, page=_page
            ),
        ),
        forget=forget,
    )
