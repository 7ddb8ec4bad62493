"""Finding a station that went back, as steps of a station (protocol/heads.py).

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

from backchannel.protocol import Channel, RemoteProtocolError
from backchannel.protocol.events import Event, ForkDetected, WentBack
from backchannel.protocol.heads import HeadsProbe, WentBackNotice, decode_message
from backchannel.store import ChannelRow
from backchannel.store import repository as repo

from .errors import NO_OPEN_CHANNEL
from .steps import Steps

HEADS_PATH = "/peer/v1/heads"


class Suspects:
    """Channels whose heads should be compared with the peer's before going on."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def add(self, channel_id: str) -> None:
        with self._lock:
            self._ids.add(channel_id)

    def discard(self, channel_id: str) -> None:
        with self._lock:
            self._ids.discard(channel_id)

    def __contains__(self, channel_id: object) -> bool:
        return channel_id in self._ids

    def all(self) -> list[str]:
        with self._lock:
            return sorted(self._ids)


class HeadsSteps(Steps):
    suspects: Suspects

    def heads_probe(self, channel_id: str) -> tuple[bytes, bytes, str]:
        """(nonce, probe, url): what to post to the peer to compare heads."""
        with self.db.reading() as s:
            row = repo.channel(s, channel_id)
            if row is None:
                raise RemoteProtocolError(NO_OPEN_CHANNEL)
            nonce = os.urandom(16)
            probe = self._restore(row).heads_probe(nonce)
            return nonce, probe, row.peer_endpoint.rstrip("/") + HEADS_PATH

    def check_heads(self, channel_id: str, answer: bytes, nonce: bytes) -> bytes | None:
        """Take the peer's answer; stop the channel if one side went back.

        Returns the notice to send the peer when the channel was stopped, else None.
        """
        with self._channel(channel_id) as (_s, row, channel):
            events = channel.check_heads(answer, nonce)
            notice = self._stop_if_gone_back(row, channel, events)
            self._save(row, channel)
        if notice is None:
            self.suspects.discard(channel_id)
        return notice

    def take_heads_message(self, data: bytes) -> bytes | None:
        """The peer endpoint: answer a probe with our heads, or take a notice (None)."""
        message = decode_message(data)
        channel_id = message.channel_id.hex()
        if isinstance(message, HeadsProbe):
            with self.db.reading() as s:  # answered for a stopped channel too
                row = repo.channel(s, channel_id)
                if row is None:
                    raise RemoteProtocolError(NO_OPEN_CHANNEL)
                return self._restore(row).answer_heads(data)
        assert isinstance(message, WentBackNotice)
        with self.db.transaction() as s:
            row = repo.channel(s, channel_id, lock=True)
            if row is None:
                raise RemoteProtocolError(NO_OPEN_CHANNEL)
            channel = self._restore(row)
            events = channel.receive_notice(data)
            if row.closed is None:
                self._stop_if_gone_back(row, channel, events, tell=False)
                self._save(row, channel)
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
