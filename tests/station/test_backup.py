"""Restoring a backup: the archive comes back, its channels come back closed.

Real `serve` processes and the real CLI.  A backup made before more items were sent
is behind the counterpart; sending from its state would reuse sequence numbers and
message keys, so the restored channels must refuse everything, and pairing again
must give a working channel.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from msgspec.structs import replace

from backchannel.station.core.errors import ChannelClosed, StationError
from backchannel.station.service import Station

from .conftest import (
    StationProcess,
    api_token,
    cli,
    make_station,
    message,
    message_texts,
    pair_running,
    start_together,
    status_of,
    wait_until,
)
from .test_two_stations import drained


def texts(station: StationProcess) -> list[str]:
    return message_texts(station)


def send(station: StationProcess, text: str, ack_by: datetime | None = None) -> None:
    s = station.open()
    try:
        s.send(s.resolve(None), replace(message(text), ack_deadline=ack_by))
    finally:
        s.close()


def files_of(folder: Path) -> dict[str, str]:
    """Every file of a station folder with a digest of its content."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != "serve.log"
    }


@dataclass
class BackedUp:
    a: StationProcess
    b: StationProcess
    backup: Path
    invitation: str  # issued by A before the backup, never taken


@pytest.fixture(scope="module")
def made_once(tmp_path_factory: pytest.TempPathFactory) -> BackedUp:
    """A's backup holds two delivered items (one owing an acknowledgement), one item not
    yet delivered, and an open invitation; one more item is sent after it.

    Made once for the module, with both stations stopped afterwards: each test works
    on copies of the two folders (``backed_up``), so none sees another's restore."""
    tmp = tmp_path_factory.mktemp("backup")
    a, b = make_station(tmp, "alpha"), make_station(tmp, "bravo")
    start_together(a, b)
    try:
        pair_running(a, b)
        return make_backup(a, b, tmp)
    finally:
        a.stop()
        b.stop()


@pytest.fixture
def backed_up(made_once: BackedUp, tmp_path: Path) -> Iterator[BackedUp]:
    """Copies of both stations (stopped) and of the backup; any started are stopped after."""
    a, b = (copy_of(made_once.a, tmp_path), copy_of(made_once.b, tmp_path))
    backup = tmp_path / made_once.backup.name
    shutil.copy2(made_once.backup, backup)
    try:
        yield BackedUp(a, b, backup, made_once.invitation)
    finally:
        a.stop()
        b.stop()


def copy_of(station: StationProcess, tmp: Path) -> StationProcess:
    """A copy of a stopped station's folder (same key, same port: one runs at a time)."""
    folder = tmp / station.folder.name
    shutil.copytree(station.folder, folder)
    (folder / "serve.log").unlink(missing_ok=True)
    return StationProcess(folder, station.url)


def make_backup(a: StationProcess, b: StationProcess, tmp_path: Path) -> BackedUp:
    deadline = datetime.now(UTC) + timedelta(days=2)
    send(a, "before one", deadline)
    send(a, "before two")
    wait_until(lambda: drained(a), "delivered before the backup")
    station = a.open()
    try:
        invitation = station.invite(3600)
    finally:
        station.close()
    b.stop()
    send(a, "queued at the backup")  # undelivered in the backup, delivered after it
    backup = tmp_path / "alpha.backup"
    done = cli("backup", "--station", str(a.folder), "--out", str(backup))
    assert done.returncode == 0, done.stderr
    b.start()
    send(a, "after the backup")
    wait_until(lambda: drained(a) and "after the backup" in texts(b), "delivered after")
    return BackedUp(a, b, backup, invitation)


def test_restore_brings_back_the_archive_with_its_channels_closed(
    backed_up: BackedUp,
) -> None:
    a, b, backup = backed_up.a, backed_up.b, backed_up.backup
    start_together(a, b)
    before = a.open()
    try:
        assert [d.kind for d in before.due()] == ["acknowledgement"]  # owed by B
    finally:
        before.close()
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
    assert sent_messages(kept) == 4  # nothing is lost: the one it replaced is kept whole

    restored = a.open()
    try:  # the archive as it was, the queued item still undelivered
        assert texts(a) == ["before one", "before two", "queued at the backup"]
        channel = restored.resolve(None)
        status = restored.status(channel)
        assert status.closed is not None and "restored from a backup" in status.closed
        assert status.outbox_backlog == 1
        with pytest.raises(ChannelClosed, match="is closed: restored from a backup"):
            restored.send(channel, message("from the old state"))
        verdict = restored.audit.verify()
        assert verdict.ok, verdict
        assert [r.record.action for r in restored.audit.show()][-1] == "restore"
        assert restored.due() == []  # nothing can be answered on a closed channel
    finally:
        restored.close()

    a.start()
    token = api_token(a, "scripter")
    api = f"{a.url}/api/v1/channels/{channel}/messages"
    answer = httpx.post(api, json={"text": "x"}, headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 409
    assert "pair again" in answer.json()["error"]
    send(b, "to the restored station")  # the counterpart's envelopes are refused ...
    # ... in the words used for an unknown channel (nothing of who closed it or why), so
    # B compares heads with A, finds A behind where it was, and stops the channel too.
    wait_until(lambda: (status_of(b).closed or "").startswith("stopped:"), "B stops it")
    assert "only" in (status_of(b).fork_alarm or "")  # "... has sent only ..."
    assert "to the restored station" not in texts(a)
    # A's worker never posted the closed channel's queued envelope: B would count a
    # duplicate (B has it, delivered before A's restore).
    assert status_of(b).duplicates == 0 and status_of(a).outbox_backlog == 1
    station = b.open()
    try:  # the invitation open in the backup was dropped: its secrets may have been used
        with pytest.raises(StationError, match=r"answered 400$"):  # its words are not echoed
            station.pair(backed_up.invitation)
    finally:
        station.close()

    # Closing a stopped channel again is refused in one line; the two pair again.
    close = ("close", "--station", str(b.folder), "--channel", channel, "--reason", "restored")
    again = cli(*close)
    assert again.returncode == 1 and "is closed: stopped:" in again.stderr
    pair_running(a, b)  # a new channel, and the one each side resolves to by default
    send(a, "on the new channel")
    wait_until(lambda: "on the new channel" in texts(b), "the new channel works")
    # An admin closes a channel by hand (a relationship that ended).
    new = status_of(b).channel_id
    done = cli("close", "--station", str(b.folder), "--channel", new, "--reason", "ended")
    assert done.returncode == 0, done.stderr
    assert "closed by host:" in done.stdout and done.stdout.rstrip().endswith(": ended")


def sent_messages(database: Path) -> int:
    db = sqlite3.connect(database)
    try:
        query = "SELECT count(*) FROM transcript WHERE direction = 'out' AND item_type = 'message'"
        count: int = db.execute(query).fetchone()[0]
        return count
    finally:
        db.close()


def test_a_restore_that_cannot_be_done_changes_nothing(backed_up: BackedUp, tmp_path: Path) -> None:
    a, b, backup = backed_up.a, backed_up.b, backed_up.backup
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
        garbage: "is not a backchannel backup",
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


def sealed_variants(a: StationProcess, backup: Path, tmp: Path) -> dict[str, tuple[bytes, str]]:
    """Backups sealed with A's key whose content is wrong: name -> (file, reason)."""
    station = Station.open(a.folder)
    try:
        plain = station.unseal_blob("backup", backup.read_bytes())
        damaged = bytearray(plain)
        for page in range(2, len(plain) // 4096 - 1):  # every b-tree page but the first
            damaged[page * 4096 + 8 : page * 4096 + 40] = b"\xff" * 32
        other = tmp / "other.db"
        with sqlite3.connect(other) as db:
            db.execute("CREATE TABLE notes (text TEXT)")
        db.close()
        newer = tmp / "newer.db"
        newer.write_bytes(plain)
        with sqlite3.connect(newer) as db:
            db.execute("UPDATE alembic_version SET version_num = '9999'")
        db.close()
        contents = {
            "garbage after the header": (SQLITE_HEADER + b"\x00" * 4000, "cannot be read"),
            "damaged pages": (bytes(damaged), "the database in the backup"),
            "not a station": (other.read_bytes(), "is not a station's"),
            "a newer schema": (newer.read_bytes(), "cannot be brought up to date"),
        }
        return {
            name: (station.seal_blob("backup", data), reason)
            for name, (data, reason) in contents.items()
        }
    finally:
        station.close()


SQLITE_HEADER = b"SQLite format 3\x00"


def test_sealed_content_that_is_not_this_station_s_database_is_refused(
    backed_up: BackedUp, tmp_path: Path
) -> None:
    a = backed_up.a
    a.stop()
    variants = sealed_variants(a, backed_up.backup, tmp_path)
    before = files_of(a.folder)
    for name, (sealed, reason) in variants.items():
        path = tmp_path / f"{name}.backup"
        path.write_bytes(sealed)
        done = cli("restore", "--station", str(a.folder), str(path))
        assert done.returncode == 1, name
        assert reason in done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert files_of(a.folder) == before, name


def test_a_damaged_database_is_kept_as_it_is_and_the_backup_put_in_place(
    backed_up: BackedUp,
) -> None:
    a = backed_up.a
    a.stop()
    database = a.folder / "station.db"
    database.write_bytes(b"what is left after a disk failure")
    done = cli("restore", "--station", str(a.folder), str(backed_up.backup))
    assert done.returncode == 0, done.stderr
    kept = a.folder / next(
        p.name for p in a.folder.glob("station.db.before-restore-*")
        if not p.name.endswith(("-wal", "-shm"))  # its journals are kept beside it
    )  # fmt: skip
    assert kept.read_bytes() == b"what is left after a disk failure"
    assert texts(a) == ["before one", "before two", "queued at the backup"]
