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

import logging
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from alembic.util.exc import CommandError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError

from backchannel.protocol import ProtocolError
from backchannel.protocol.sealing import SEAL_MAGIC, unseal
from backchannel.station.core.audit import Record
from backchannel.station.core.config import StationConfig, load_key
from backchannel.station.core.errors import StationError
from backchannel.station.service import Station
from backchannel.store import ChannelRow, Database, InvitationRow
from backchannel.store.database import sqlite_url

log = logging.getLogger("backchannel.backup")
BACKUP_LABEL = "backup"
MAX_BACKUP_BYTES = 4 * 1024**3  # read into memory whole: keep it bounded
SQLITE_MAGIC = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Restored:
    """What a restore did."""

    kept: Path  # the name the database it replaced is kept under
    closed: int  # channels closed
    newest: float | None  # when the newest item in the backup was committed


def backup(station: Station) -> bytes:
    """The station's database, copied consistently and sealed with its key."""
    path = _sqlite_path(
        station.db.url,
        "backup copies SQLite stations; for PostgreSQL use pg_dump (content is sealed)",
    )
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "copy.db"
        source, target = sqlite3.connect(path), sqlite3.connect(copy)
        with source, target:
            source.backup(target)
        source.close()
        target.close()
        if copy.stat().st_size > MAX_BACKUP_BYTES:  # restore could not read it back
            raise StationError(
                f"the database is larger than {MAX_BACKUP_BYTES} bytes; "
                "copy the stopped station's folder instead"
            )
        return station.seal_blob(BACKUP_LABEL, copy.read_bytes())


def restore(folder: Path, sealed: bytes, who: str) -> Restored:
    """Put a backup of this station back in place; every channel in it comes back closed.

    The station must not be running.  Nothing changes unless every check passes; a
    crash midway leaves either the old database or the restored one in place.
    """
    config = StationConfig.load(folder)
    path = _sqlite_path(
        config.database(folder),
        "restore puts back SQLite backups; restore a PostgreSQL station with pg_restore",
    )
    if not sealed.startswith(SEAL_MAGIC):
        raise StationError("the file is not a backchannel backup")
    key = load_key(folder)
    try:
        plain = unseal(key, BACKUP_LABEL, sealed)
    except ProtocolError:
        raise StationError(
            "the file does not open with this station's key: it is a backup of another "
            "station, or damaged"
        ) from None
    if not plain.startswith(SQLITE_MAGIC):
        raise StationError("the backup does not hold a SQLite database")
    staging = path.with_name(path.name + ".restoring")
    try:
        _remove_with_journals(staging)  # left by an interrupted restore
        _write_private(staging, plain)
        newest = _check(staging)
        closed = _close_channels(staging, key)
        kept = _swap(path, staging)
    except OSError as exc:
        raise StationError(f"cannot restore: {exc.strerror or exc}") from None
    finally:
        _remove_with_journals(staging)
    station = Station.open(folder)
    try:
        station.audit.rewitness()  # the restored trail is older than the one witnessed
        detail = f"{closed} channel(s) closed; replaced database kept as {kept.name}"
        station.audit.record(Record(who, "restore", "cli", detail=detail[:200]))
    finally:
        station.close()
    return Restored(kept, closed, newest)


def _sqlite_path(url: str, otherwise: str) -> Path:
    if not url.startswith("sqlite:///"):
        raise StationError(otherwise)
    return Path(url.removeprefix("sqlite:///"))


JOURNALS = ("-wal", "-shm", "-journal")


def _remove_with_journals(path: Path) -> None:
    for name in (path.name, *(path.name + j for j in JOURNALS)):
        path.with_name(name).unlink(missing_ok=True)


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
        if not {"station", "channel", "transcript", "alembic_version"} <= tables:
            raise StationError("the database in the backup is not a station's")
        newest: float | None = db.execute("SELECT max(created_at) FROM transcript").fetchone()[0]
        return newest
    except sqlite3.DatabaseError as exc:
        raise StationError(f"the database in the backup cannot be read: {exc}") from None
    finally:
        db.close()


def _close_channels(path: Path, key: bytes) -> int:
    """Bring the copy's schema up to date and close every channel in it."""
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    reason = (
        f"restored from a backup on {when}; its keys are behind the counterpart's, so it "
        "sends and receives nothing more: pair again to go on"
    )
    db = Database(sqlite_url(path), key)
    try:
        db.migrate()
        with db.transaction() as s:
            closing = update(ChannelRow).where(ChannelRow.closed.is_(None)).values(closed=reason)
            closed = s.connection().execute(closing).rowcount
            # Invitations not yet taken when the backup was made may have been taken
            # since: their one-time secrets must not serve a second pairing.
            s.execute(
                delete(InvitationRow).where(InvitationRow.channel_id.not_in(select(ChannelRow.id)))
            )
    except (SQLAlchemyError, CommandError) as exc:  # e.g. a backup from a newer version
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StationError(
            f"the database in the backup cannot be brought up to date: {first}"
        ) from None
    finally:
        db.close()
    if not _fold(path):
        raise StationError("the database in the backup cannot be read after its upgrade")
    return closed


def _fold(path: Path) -> bool:
    """Fold the write-ahead log into the database file, so that one file is all of it.

    False if the file is not a readable database; StationError if a process has it open
    (switching out of WAL needs the database to itself).
    """
    db = sqlite3.connect(path, isolation_level=None, timeout=2)
    try:
        busy, _log, _done = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        mode = db.execute("PRAGMA journal_mode=DELETE").fetchone()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise _in_use(path) from None
        return False
    except sqlite3.DatabaseError:
        return False
    finally:
        db.close()
    if busy or mode != ("delete",):
        raise _in_use(path)
    return True


def _readable(path: Path) -> bool:
    """Whether the file opens as a database, looked at without writing to it."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return True
    except sqlite3.DatabaseError:
        return False
    finally:
        db.close()


def _in_use(path: Path) -> StationError:
    return StationError(f"{path} is in use: stop the station before restoring")


def _swap(path: Path, staging: Path) -> Path:
    """Keep the current database under a new name, then put the restored one in place.

    The current one is linked to its new name first, so that at every instant the
    station's file is either the old database or the restored one, never missing.  A
    current file that is not a readable database is kept as it is, with its journals.
    """
    kept = _free_name(path, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
    if path.exists():
        if _readable(path):
            _fold(path)  # whole in one file; raises if a process has it open
        else:
            log.warning("%s is not a readable database: kept as it is", path)
        for journal in ("", *JOURNALS):
            current = path.with_name(path.name + journal)
            if current.exists():
                os.link(current, kept.with_name(kept.name + journal))
        for journal in JOURNALS:  # never leave another database's log beside the new one
            path.with_name(path.name + journal).unlink(missing_ok=True)
    os.replace(staging, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return kept


def _free_name(path: Path, stamp: str) -> Path:
    for n in range(1000):
        kept = path.with_name(f"{path.name}.before-restore-{stamp}" + (f"-{n}" if n else ""))
        if not any(kept.with_name(kept.name + j).exists() for j in ("", *JOURNALS)):
            return kept
    raise StationError("too many earlier restores kept beside the database; move some away")
