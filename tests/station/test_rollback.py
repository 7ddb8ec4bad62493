"""A station's database put back by hand (not `restore`): found, and nothing is sent.

A VM snapshot or a file copy brings a station back with channel state that its
counterpart has moved past.  Sending from it would reuse sequence numbers and Olm
message keys.  Before its delivery worker posts anything, the station compares heads
with the counterpart; the fresh, authenticated answer shows the rollback, and both
stations stop the channel with an alarm.  Real `serve` processes over HTTP.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from backchannel.protocol import Message, RemoteProtocolError
from backchannel.protocol.transcript import DUPLICATE_WINDOW
from backchannel.station.core.audit import Record
from backchannel.station.core.errors import ChannelClosed
from backchannel.store import repository as repo

from .conftest import StationProcess, api_token, message, status_of, wait_until
from .test_store import paired_in_process
from .test_two_stations import drained


def texts(station: StationProcess, direction: str) -> list[str]:
    s = station.open()
    try:
        return [
            e.item.text for e in s.transcript(None)
            if isinstance(e.item, Message) and e.direction == direction
        ]  # fmt: skip
    finally:
        s.close()


def send(station: StationProcess, text: str) -> None:
    s = station.open()
    try:
        s.send(s.resolve(None), message(text))
    finally:
        s.close()


def copy_database(folder: Path, to: Path) -> None:
    """The stopped station's database files, as a VM snapshot would keep them."""
    to.mkdir()
    for name in ("station.db", "station.db-wal", "station.db-shm"):
        if (folder / name).exists():
            shutil.copy2(folder / name, to / name)


def put_back(copy: Path, folder: Path) -> None:
    for name in ("station.db", "station.db-wal", "station.db-shm"):
        (folder / name).unlink(missing_ok=True)
        if (copy / name).exists():
            shutil.copy2(copy / name, folder / name)


def test_a_database_put_back_by_hand_sends_nothing_and_both_sides_stop(
    pair_of_stations: tuple[StationProcess, StationProcess], tmp_path: Path
) -> None:
    a, b = pair_of_stations
    send(a, "before the copy")
    wait_until(lambda: drained(a, b), "delivered")
    a.stop()
    copy_database(a.folder, tmp_path / "snapshot")
    a.start()
    for n in range(3):  # A moves on: B now holds envelopes the copy never sent
        send(a, f"after the copy {n}")
    send(b, "B moves on too")
    wait_until(lambda: drained(a, b) and "B moves on too" in texts(a, "in"), "delivered")
    a.stop()
    put_back(tmp_path / "snapshot", a.folder)
    send(a, "sent from the copy")  # queued under a sequence number B already holds
    a.start()

    wait_until(lambda: status_of(a).closed is not None, "A stops the channel")
    wait_until(lambda: status_of(b).closed is not None, "B stops the channel")
    sa, sb = status_of(a), status_of(b)
    assert sa.fork_alarm and "has sent only" in sa.fork_alarm  # A found itself behind
    assert sb.fork_alarm and "went back" in sb.fork_alarm  # and told B
    assert "sent from the copy" not in texts(b, "in")
    assert sb.duplicates == 0  # nothing was posted under a used sequence number
    token = api_token(a, "sender")
    refused = httpx.post(
        f"{a.url}/api/v1/channels/{sa.channel_id}/messages", json={"text": "more"},
        headers={"authorization": f"Bearer {token}"}, timeout=10,
    )  # fmt: skip
    assert refused.status_code == 409 and "stopped" in refused.json()["error"]


def test_the_counterpart_of_a_station_put_back_finds_it_too(
    pair_of_stations: tuple[StationProcess, StationProcess], tmp_path: Path
) -> None:
    a, b = pair_of_stations
    a.stop()
    copy_database(a.folder, tmp_path / "snapshot")
    a.start()
    send(b, "A received this after the copy")
    wait_until(lambda: drained(b) and texts(a, "in"), "delivered")
    a.stop()
    put_back(tmp_path / "snapshot", a.folder)
    a.start()  # A has nothing to send; B's next item shows B that A is behind
    send(b, "next")
    wait_until(lambda: status_of(b).closed is not None, "B stops the channel")
    wait_until(lambda: status_of(a).closed is not None, "A stops the channel")
    assert "went back" in (status_of(b).fork_alarm or "") or "holds only" in (
        status_of(b).fork_alarm or ""
    )


def test_an_old_position_with_a_different_envelope_is_not_answered_as_a_duplicate(
    tmp_path: Path,
) -> None:
    a, b = paired_in_process(tmp_path)
    try:
        channel = a.resolve(None)
        with a.db.reading() as s:
            old = repo.channel(s, channel)  # A's state now, as a copy would keep it
        assert old is not None
        first = a.send(channel, message("the original"))
        for n in range(DUPLICATE_WINDOW + 2):  # beyond B's window of recent hashes
            a.send(channel, message(f"filler {n}"))
        for _seq, envelope, _url in a.undelivered(channel, 10_000):
            b.receive(envelope)
        again = a.restore(old).send(message("from the old copy"), a.clock()).data
        forged = again[:-1] + bytes([again[-1] ^ 1])
        before = b.status(channel)
        with pytest.raises(RemoteProtocolError, match="conflicts"):  # not a duplicate's ack
            b.receive(forged)
        assert channel in b.suspects  # its heads will be compared with the peer's
        b.receive(again)  # this one opens: the peer's own state went back
        after = b.status(channel)
        assert after.fork_alarm is not None and after.duplicates == before.duplicates
        assert after.bad_input == before.bad_input + 1  # the forged one
        inbox = [e.envelope_hash for e in b.inbox(channel)]
        assert first.envelope_hash in inbox and len(inbox) == DUPLICATE_WINDOW + 4
    finally:
        a.close()
        b.close()


def test_a_stopped_channel_is_no_longer_compared(tmp_path: Path) -> None:
    a, b = paired_in_process(tmp_path)
    try:
        channel = a.resolve(None)
        a.suspects.add(channel, force=True)
        a.close_channel(channel, "stopped", Record("host:test", "close", "cli"))
        with pytest.raises(ChannelClosed):
            a.heads.probe(channel)
        assert channel not in a.suspects  # the worker stops asking the peer
    finally:
        a.close()
        b.close()
