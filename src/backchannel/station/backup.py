"""Encrypted backups of a SQLite station, and putting one back without reusing keys.

A backup is the whole database, copied with SQLite's online backup API while the
station runs, and sealed with the station key: it opens only where that key is.

Restoring puts the database back, but closes every channel in it.  A backup holds
each channel's protocol state as it was when the backup was made, and the counterpart
has seen later envelopes since: sending from that state would number new items as
ones the counterpart already has, and derive message keys again that were used
before.  So a restored station keeps its archive (transcripts, audit trail, releases,
agreements) readable, refuses to send or receive on the old channels, and is paired
again with each counterpart to go on.  Invitations that were still open in the backup
are dropped, since their one-time secrets may have been used since.  The database it
replaces is kept beside it.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import delete, select, update

from backchannel.protocol import ProtocolError
from backchannel.protocol.sealing import unseal
from backchannel.store import ChannelRow, Database, InvitationRow
from backchannel.store.database import sqlite_url

from .audit import Record
from .config import StationConfig, load_key
from .errors import StationError
from .service import Station

BACKUP_LABEL = "backup"
MAX_BACKUP_BYTES = 4 * 1024**3  # read into memory whole: keep it bounded
SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Restored:
    """What a restore did."""

    kept: Path | None  # the database it replaced, renamed (None if there was none)
    closed: int  # channels closed
    newest: float | None  # when the newest item in the backup was committed


def backup(station: Station) -> bytes:
    """The station's database, copied consistently and sealed with its key."""
    path = _sqlite_path(station.db.url, "backup copies SQLite stations; for PostgreSQL use "
                        "pg_dump (content is sealed)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "copy.db"
        source, target = sqlite3.connect(path), sqlite3.connect(copy)
        with source, target:
            source.backup(target)
        source.close()
        target.close()
        return station.seal_blob(BACKUP_LABEL, copy.read_bytes())


def restore(folder: Path, sealed: bytes, who: str) -> Restored:
    """Put a backup of this station back in place; every channel in it comes back closed.

    The station must not be running.  Nothing changes unless every check passes.
    """
    config = StationConfig.load(folder)
    path = _sqlite_path(config.database(folder), "restore puts back SQLite backups; restore a "
                        "PostgreSQL station with pg_restore")  # fmt: skip
    try:
        plain = unseal(load_key(folder), BACKUP_LABEL, sealed)
    except ProtocolError:
        raise StationError(
            "the file does not open with this station's key: it is a backup of another "
            "station, or damaged"
        ) from None
    if not plain.startswith(SQLITE_MAGIC):
        raise StationError("the backup does not hold a SQLite database")
    staging = path.with_name(path.name + ".restoring")
    try:
        _write_private(staging, plain)
        newest = _check(staging)
        closed = _close_channels(staging)
        kept = _swap(path, staging)
    finally:
        staging.unlink(missing_ok=True)
    station = Station.open(folder)
    try:
        detail = (
            f"{closed} channel(s) closed; replaced database kept as {kept.name if kept else '-'}"
        )
        station.audit.record(Record(who, "restore", "cli", detail=detail[:200]))
    finally:
        station.close()
    return Restored(kept, closed, newest)


def _sqlite_path(url: str, otherwise: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise StationError(otherwise)
    return Path(url.removeprefix("sqlite:///"))


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _check(path: Path) -> float | None:
    """Refuse a damaged copy or one that is not a station; the newest item's time."""
    db = sqlite3.connect(path)
    try:
        if db.execute("PRAGMA integrity_check").fetchone() != ("ok",):
            raise StationError("the database in the backup is damaged (integrity check failed)")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if not {"station", "channel", "transcript"} <= tables:
            raise StationError("the database in the backup is not a station's")
        newest: float | None = db.execute("SELECT max(created_at) FROM transcript").fetchone()[0]
        return newest
    except sqlite3.DatabaseError as exc:
        raise StationError(f"the database in the backup cannot be read: {exc}") from None
    finally:
        db.close()


def _close_channels(path: Path) -> int:
    """Bring the copy's schema up to date and close every channel in it."""
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    reason = (
        f"restored from a backup on {when}; its keys are behind the counterpart's, so it "
        "sends and receives nothing more: pair again to go on"
    )
    db = Database(sqlite_url(path))
    try:
        db.migrate()
        with db.transaction() as s:
            closing = update(ChannelRow).where(ChannelRow.closed.is_(None)).values(closed=reason)
            closed = s.connection().execute(closing).rowcount
            # Invitations not yet taken when the backup was made may have been taken
            # since: their one-time secrets must not serve a second pairing.
            s.execute(delete(InvitationRow).where(InvitationRow.channel_id.not_in(
                select(ChannelRow.id))))  # fmt: skip
    finally:
        db.close()
    _single_file(path)
    return closed


def _single_file(path: Path) -> None:
    """Fold the write-ahead log into the database file, so that one file is all of it."""
    in_use = StationError(f"{path} is in use: stop the station before restoring")
    db = sqlite3.connect(path, isolation_level=None, timeout=2)
    try:
        busy, _log, _done = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise in_use
        # Needs the database to itself: fails while a `serve` process holds it open.
        if db.execute("PRAGMA journal_mode=DELETE").fetchone() != ("delete",):
            raise in_use
    except sqlite3.OperationalError:
        raise in_use from None
    finally:
        db.close()


def _swap(path: Path, staging: Path) -> Path | None:
    """Move the current database aside and the restored one into its place."""
    kept = None
    if path.exists():
        _single_file(path)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = path.with_name(f"{path.name}.before-restore-{stamp}")
        os.replace(path, kept)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(staging, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return kept
