"""Restoring a backup: the archive comes back, its channels come back closed.

Real `serve` processes and the real CLI.  A backup made before more items were sent
is behind the counterpart; sending from its state would reuse sequence numbers and
message keys, so the restored channels must refuse everything, and pairing again
must give a working channel.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import httpx
import pytest

from backchannel.station.errors import ChannelClosed
from backchannel.station.service import Station

from .conftest import (
    StationProcess,
    api_token,
    cli,
    message,
    message_texts,
    pair_running,
    status_of,
    wait_until,
)
from .test_two_stations import drained


def texts(station: StationProcess) -> list[str]:
    return message_texts(station)


def send(station: StationProcess, text: str) -> None:
    s = station.open()
    try:
        s.send(s.resolve(None), message(text))
    finally:
        s.close()


def files_of(folder: Path) -> dict[str, str]:
    """Every file of a station folder with a digest of its content."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != "serve.log"
    }


@pytest.fixture
def backed_up(
    pair_of_stations: tuple[StationProcess, StationProcess], tmp_path: Path
) -> tuple[StationProcess, StationProcess, Path]:
    """A and B with two items before A's backup and one after it, all delivered."""
    a, b = pair_of_stations
    for text in ("before one", "before two"):
        send(a, text)
    wait_until(lambda: drained(a), "delivered before the backup")
    backup = tmp_path / "alpha.backup"
    done = cli("backup", "--station", str(a.folder), "--out", str(backup))
    assert done.returncode == 0, done.stderr
    send(a, "after the backup")
    wait_until(lambda: drained(a) and "after the backup" in texts(b), "delivered after")
    return a, b, backup


def test_restore_brings_back_the_archive_with_its_channels_closed(
    backed_up: tuple[StationProcess, StationProcess, Path],
) -> None:
    a, b, backup = backed_up
    refused = cli("restore", "--station", str(a.folder), str(backup))
    assert refused.returncode == 1  # while it serves
    assert "in use: stop the station before restoring" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not list(a.folder.glob("*.restoring")) and not list(a.folder.glob("*before-restore*"))

    a.stop()
    done = cli("restore", "--station", str(a.folder), str(backup))
    assert done.returncode == 0, done.stderr
    assert "1 channel(s) closed: pair again" in done.stdout
    [kept] = a.folder.glob("station.db.before-restore-*")
    assert sent_messages(kept) == 3  # nothing is lost: the one it replaced is kept whole

    restored = a.open()
    try:
        assert texts(a) == ["before one", "before two"]  # the archive as it was
        channel = restored.resolve(None)
        status = restored.status(channel)
        assert status.closed is not None and "restored from a backup" in status.closed
        with pytest.raises(ChannelClosed, match="is closed: restored from a backup"):
            restored.send(channel, message("from the old state"))
        verdict = restored.audit.verify()
        assert verdict.ok, verdict
        assert [r.record.action for r in restored.audit.show()][-1] == "restore"
        assert restored.due() == []
    finally:
        restored.close()

    a.start()
    token = api_token(a, "scripter")
    api = f"{a.url}/api/v1/channels/{channel}/messages"
    answer = httpx.post(api, json={"text": "x"}, headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 409
    assert "pair again" in answer.json()["error"]
    send(b, "to the restored station")  # the counterpart's envelopes are refused
    wait_until(lambda: "closed at our end" in (status_of(b).last_error or ""), "refusal")
    assert "to the restored station" not in texts(a)

    # B's admin closes its side of the old channel, and the two pair again.
    close = ("close", "--station", str(b.folder), "--channel", channel, "--reason", "restored")
    done = cli(*close)
    assert done.returncode == 0, done.stderr
    assert "closed by host:" in done.stdout and done.stdout.rstrip().endswith(": restored")
    again = cli(*close)
    assert again.returncode == 1 and "is closed: closed by host:" in again.stderr
    pair_running(a, b)  # a new channel, and the one each side resolves to by default
    send(a, "on the new channel")
    wait_until(lambda: "on the new channel" in texts(b), "the new channel works")


def sent_messages(database: Path) -> int:
    db = sqlite3.connect(database)
    try:
        query = "SELECT count(*) FROM transcript WHERE direction = 'out' AND item_type = 'message'"
        count: int = db.execute(query).fetchone()[0]
        return count
    finally:
        db.close()


def test_a_restore_that_cannot_be_done_changes_nothing(
    backed_up: tuple[StationProcess, StationProcess, Path], tmp_path: Path
) -> None:
    a, b, backup = backed_up
    a.stop()
    b.stop()
    other = tmp_path / "bravo.backup"
    assert cli("backup", "--station", str(b.folder), "--out", str(other)).returncode == 0
    garbage, truncated = tmp_path / "garbage", tmp_path / "truncated"
    garbage.write_bytes(b"not a backup at all")
    truncated.write_bytes(backup.read_bytes()[:-100])
    before = files_of(a.folder)
    cases = {
        other: "does not open with this station's key",
        garbage: "does not open with this station's key",
        truncated: "does not open with this station's key",
        tmp_path / "missing": "cannot read",
    }
    for path, reason in cases.items():
        done = cli("restore", "--station", str(a.folder), str(path))
        assert done.returncode == 1, path
        assert reason in done.stderr, (path, done.stderr)
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        assert files_of(a.folder) == before, path


def test_a_sealed_database_that_is_not_a_station_is_refused(
    backed_up: tuple[StationProcess, StationProcess, Path], tmp_path: Path
) -> None:
    a, _b, _backup = backed_up
    a.stop()
    station = Station.open(a.folder)
    try:
        fake = station.seal_blob("backup", b"SQLite format 3\x00" + b"\x00" * 4000)
    finally:
        station.close()
    path = tmp_path / "fake.backup"
    path.write_bytes(fake)
    before = files_of(a.folder)
    done = cli("restore", "--station", str(a.folder), str(path))
    assert done.returncode == 1
    assert "the database in the backup" in done.stderr, done.stderr
    assert files_of(a.folder) == before
