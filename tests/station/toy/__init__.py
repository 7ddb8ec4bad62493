"""A test-only feature package: field sightings, one item type, registered like any feature.

It shows what adding a feature takes: an item type (``protocol.items``), its hooks,
and one registration (a station built with ``FEATURES + (TOY,)``).  Nothing in the
station's core is touched.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from backchannel.protocol import Item
from backchannel.protocol.items import Deadline, check_clearances, register_item_type
from backchannel.station.core.config import StationConfig
from backchannel.station.core.deadlines import Due, owed_by_item
from backchannel.station.core.hooks import Feature, ItemHooks, Recorded, Shown
from backchannel.station.core.ledger import Clock
from backchannel.station.service import FEATURES, Station
from backchannel.store.schema import TranscriptRow


class Sighting(Item, frozen=True):
    """Something seen in the field, to be confirmed by a date."""

    item_type: ClassVar[str] = "toy-sighting"

    what: str
    confirm_by: Deadline
    clearances: tuple[str, ...] = ()

    def validate(self) -> None:
        check_clearances(self.clearances)
        if not self.what.strip():
            raise ValueError("a sighting says what was seen")


register_item_type(Sighting)

# What the hook saw, inside the transaction that recorded each sighting.
RECORDED: list[tuple[str, str, bool]] = []


def _recorded(r: Recorded) -> None:
    # The transcript row is already in this transaction: a feature's tables change with it.
    row = r.s.scalar(
        select(TranscriptRow).where(TranscriptRow.envelope_hash == r.link.envelope_hash)
    )
    assert isinstance(r.link.item, Sighting)
    RECORDED.append((r.direction, r.link.item.what, row is not None))


def _deadline(item: Item) -> float | None:
    assert isinstance(item, Sighting)
    return item.confirm_by.timestamp()


def _labels(_s: Session, _channel_id: str, item: Item) -> Iterable[str]:
    assert isinstance(item, Sighting)
    return item.clearances


def _describe(item: Item, shown: Shown) -> str:
    assert isinstance(item, Sighting)
    return ("we saw " if shown.ours else "they saw ") + item.what


def _owed(s: Session, now: float, channel_id: str | None) -> list[Due]:
    query = select(TranscriptRow).where(TranscriptRow.item_type == Sighting.item_type)
    rows = [r for r in s.scalars(query) if channel_id in (None, r.channel_id)]
    return [
        owed_by_item(r, now, "confirmation", "us" if r.direction == "in" else "them", r.clearances)
        for r in rows
    ]


TOY = Feature(
    "toy",
    items=(
        ItemHooks(Sighting, "Sighting", recorded=_recorded, deadline=_deadline, labels=_labels,
                  describe=_describe),
    ),
    owed=_owed,
)  # fmt: skip


class ToyStation(Station):
    """A station with the toy feature: the one registration."""

    def __init__(
        self, folder: Path, config: StationConfig, key: bytes, clock: Clock = time.time
    ) -> None:
        super().__init__(folder, config, key, clock, features=(*FEATURES, TOY))
