"""Finding a station that went back (``protocol/heads.py``), composed over the ledger.

A database put back by hand (a VM snapshot, a file copy: not ``backchannel restore``,
which closes every channel itself) holds channel state the counterpart has moved
past.  Sending from it would reuse sequence numbers and Olm message keys.  So the
delivery worker compares heads with the counterpart before it posts anything after
a start, and again whenever something looks behind (``suspect``): an ack that names
less than before, an envelope that conflicts with one already processed, a peer
that refuses or acknowledges nothing new.  When the fresh, authenticated answer
shows that either side went back, or a fork, the channel is stopped here (closed,
with the fork alarm) and the counterpart is told, so it stops too.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backchannel.protocol import Channel, RemoteProtocolError
from backchannel.protocol.envelope import HEADS_PREFIX, heads_channel
from backchannel.protocol.events import Event, ForkDetected, WentBack
from backchannel.protocol.heads import HeadsProbe, Ours, WentBackNotice, decode_message
from backchannel.station.core.errors import NO_OPEN_CHANNEL, ChannelClosed, ChannelNotFound
from backchannel.store import ChannelRow
from backchannel.store import repository as repo

if TYPE_CHECKING:
    from backchannel.station.core.ledger import Ledger

HEADS_PATH = "/peer/v1/heads"


def _channel_of(data: bytes) -> str:
    """The channel a heads message names: in the clear part (version 2), or inside."""
    if data[:3] == HEADS_PREFIX:
        return heads_channel(data).hex()
    return decode_message(data).channel_id.hex()


# After heads matched, suspicion is not raised again for this long: a forged
# conflicting envelope or a late ack must not buy a comparison on every pass.
QUIET_AFTER_MATCH = 10.0


@dataclass(frozen=True)
class Probe:
    """A probe on its way: what to post where, and what to check the answer against."""

    nonce: bytes
    data: bytes
    url: str
    asked: Ours  # our positions when it went out


class Suspects:
    """Channels whose heads should be compared with the peer's before going on."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._matched: dict[str, float] = {}  # monotonic time heads last matched
        self._lock = threading.Lock()

    def add(self, channel_id: str, force: bool = False) -> None:
        """Suspect a channel (``force``: even right after its heads matched)."""
        with self._lock:
            since = time.monotonic() - self._matched.get(channel_id, -QUIET_AFTER_MATCH)
            if force or since >= QUIET_AFTER_MATCH:
                self._ids.add(channel_id)

    def matched(self, channel_id: str) -> None:
        with self._lock:
            self._ids.discard(channel_id)
            self._matched[channel_id] = time.monotonic()

    def discard(self, channel_id: str) -> None:
        with self._lock:
            self._ids.discard(channel_id)

    def __contains__(self, channel_id: object) -> bool:
        return channel_id in self._ids

    def all(self) -> list[str]:
        with self._lock:
            return sorted(self._ids)


class Heads:
    """The comparison of heads with the counterpart, for the delivery worker and the
    peer route."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def probe(self, channel_id: str) -> Probe:
        """What to post to the peer to compare heads; ChannelClosed for a stopped one."""
        with self.ledger.db.reading() as s:
            row = repo.channel(s, channel_id)
            if row is None:
                raise ChannelNotFound(f"no channel {channel_id}")
            if row.closed is not None:
                self.ledger.suspects.discard(channel_id)
                raise ChannelClosed(f"the channel with {row.peer_station} is closed")
            channel, nonce = self.ledger.restore(row), os.urandom(16)
            url = row.peer_endpoint.rstrip("/") + HEADS_PATH
            return Probe(nonce, channel.heads_probe(nonce), url, channel.positions())

    def check(self, channel_id: str, answer: bytes, probe: Probe) -> bytes | None:
        """Take the peer's answer; stop the channel if one side went back, or a fork.

        Heads that match cost a read and no write.  Returns the notice to send the
        peer when the channel was stopped, else None.
        """
        with self.ledger.db.reading() as s:
            row = repo.channel(s, channel_id)
            if row is None:
                raise ChannelNotFound(f"no channel {channel_id}")
            events = self.ledger.restore(row).check_heads(answer, probe.nonce, probe.asked)
        if not any(isinstance(e, ForkDetected) for e in events):
            self.ledger.suspects.matched(channel_id)
            return None
        with self.ledger.locked(channel_id) as (_s, row, channel):  # refuses a closed one
            events = channel.check_heads(answer, probe.nonce, probe.asked)
            notice = self._stop_if_gone_back(row, channel, events)
            self.ledger.save(row, channel)
        self.ledger.suspects.discard(channel_id)
        return notice

    def take(self, data: bytes) -> bytes | None:
        """The peer endpoint: answer a probe with our heads, or take a notice (None).

        Both are checked on a read first (the MAC, the addressing): only a genuine
        notice takes the channel's lock.
        """
        channel_id = _channel_of(data)
        with self.ledger.db.reading() as s:  # answered for a stopped channel too
            row = repo.channel(s, channel_id)
            if row is None:
                raise RemoteProtocolError(NO_OPEN_CHANNEL)
            channel = self.ledger.restore(row)
            message = channel.heads_message(data)
            if not isinstance(message, HeadsProbe | WentBackNotice):
                raise RemoteProtocolError("only a probe or a notice is posted here")
            if isinstance(message, HeadsProbe):
                return channel.answer_heads(data)
            channel.receive_notice(data)  # raises unless it is genuine
        with self.ledger.db.transaction() as s:
            row = repo.channel(s, channel_id, lock=True)
            if row is None or row.closed is not None:
                return None
            channel = self.ledger.restore(row)
            events = channel.receive_notice(data)
            self._stop_if_gone_back(row, channel, events, tell=False)
            self.ledger.save(row, channel)
        self.ledger.suspects.discard(channel_id)
        return None

    def _stop_if_gone_back(
        self, row: ChannelRow, channel: Channel, events: list[Event], tell: bool = True
    ) -> bytes | None:
        """Close the channel with the alarm on a rollback or fork; the notice to send."""
        went = next((e for e in events if isinstance(e, WentBack)), None)
        fork = next((e for e in events if isinstance(e, ForkDetected)), None)
        if fork is None:
            return None
        row.closed = f"stopped: {fork.reason}; pair again"[:300]
        if not tell:
            return None
        return channel.went_back_notice("fork" if went is None else went.who)
