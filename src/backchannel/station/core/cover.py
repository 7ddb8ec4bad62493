"""Cover traffic: a channel's envelopes at a constant rate each way, so that an observer
cannot tell when something happens.

Each side's admin names a rate (``backchannel cover``), which travels to the other
side as a ``cover-traffic`` item; the stream runs while both sides' latest rates are
the same and not 0.  Then the delivery worker posts one envelope every
``3600 / rate`` seconds: the oldest one waiting, or a filler when none waits
(``Channel.filler``: position 0, sealed under the control key, 1,024 bytes like any
short item).  Items wait for their turn instead of going at once; a burst of them
goes out one a tick.  Each post is answered by an acknowledgement of the one size,
so the answers are in the same stream.  Other posts are not covered: the heads
comparison after a start or a suspicion, witness queries and pairing.
"""

from __future__ import annotations

from backchannel.protocol.items import CoverTraffic, Item
from backchannel.station.core.hooks import Recorded, Shown
from backchannel.store.schema import ChannelRow


def record(r: Recorded) -> None:
    """A rate agreed by one side: ours sent, or theirs received."""
    item = r.link.item
    assert isinstance(item, CoverTraffic)
    row = r.s.get(ChannelRow, r.channel_id)
    if row is None:
        return
    if r.direction == "out":
        row.cover_ours = item.per_hour
    else:
        row.cover_theirs = item.per_hour


def describe(item: Item, shown: Shown) -> str:
    assert isinstance(item, CoverTraffic)
    side = "our" if shown.ours else "their"
    if not item.per_hour:
        return f"{side} admin turned cover traffic off"
    return f"{side} admin agreed to cover traffic of {item.per_hour} envelopes an hour each way"


def in_force(row: ChannelRow) -> int:
    """The rate a channel's stream runs at (envelopes an hour), 0 if it does not."""
    agreed = row.cover_ours is not None and row.cover_ours == row.cover_theirs
    if not agreed or row.closed is not None or row.pairing != "active":
        return 0
    return row.cover_ours or 0


class Ticks:
    """When each covered channel posts next, on the monotonic clock."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}

    def due(self, channel_id: str, per_hour: int, now: float) -> bool:
        """Whether the channel's turn has come; if so, the next one is set."""
        interval = 3600 / per_hour
        at = self._next.get(channel_id, now)
        if at - now > interval:  # the rate went up: the next turn comes sooner
            at = now
        if now < at:
            return False
        # One interval on; after a pause (a backoff, a slow post), from now.
        self._next[channel_id] = at + interval if at + interval > now else now + interval
        return True

    def keep_only(self, channel_ids: set[str]) -> None:
        for gone in set(self._next) - channel_ids:
            del self._next[gone]

    def wait(self, now: float) -> float | None:
        """Seconds until the next turn of any channel, None if none is covered."""
        return max(0.0, min(self._next.values()) - now) if self._next else None
