"""Each destroyable item's own key, kept beside the database and never inside it.

The body of a message, a document or an acknowledgement is sealed in the transcript
under a key of its own, made when the item is recorded.  The keys live in
``item-keys.db`` in the station folder, each sealed with a subkey of the station key.
Destroying an item under a retention policy deletes its key, so its body is gone from
the database *and from every copy of the database* (a backup, a PostgreSQL dump, a
disk snapshot): what they hold is sealed under a key that no longer exists.  The key
file itself is copied only by ``backchannel backup --item-keys`` (docs/retention.md
says how long such copies may be kept).

A key is written in the same commit as its item: the keys an open transaction made are
kept with the session and written (durably, ``synchronous=FULL``) just before the
database commits; a failed write fails the commit.  A key written for a transaction
that then rolled back names no row and is harmless.

A key is destroyed *after* the commit that put a tombstone in its item's place, so a
transaction that rolls back (a receipt that could not be sent) loses no body.  Until
then the key is listed as *doomed* in the same file, written with the item keys before
the commit; :meth:`doomed` is how the ledger finishes a destruction a crash cut short
between the commit and the deletion.  Deleted keys are overwritten in the file
(``secure_delete``), and the write-ahead log is emptied after each deletion.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from backchannel.protocol.kdf import derive_key
from backchannel.protocol.sealing import seal, unseal

from .config import make_private_file
from .on_commit import on_commit

log = logging.getLogger("backchannel.item_keys")
KEYS_FILE = "item-keys.db"
SEAL_KIND = "item-key"
CACHED = 4096  # keys kept in memory (a thread page's worth, many times over)
BUSY_MS = 30_000
_PENDING = "item_keys"  # where a session keeps the keys it made
_DOOMED = "item_keys_doomed"  # and the keys it destroys when it commits
_LISTENING = "item_keys_listening"
CHECKPOINT_TRIES = 20


class ItemKeys:
    """The station's item keys: made with an item, looked up to read it, destroyed."""

    def __init__(self, folder: Path, station_key: bytes) -> None:
        self.path = folder / KEYS_FILE
        self._seal_key = derive_key(station_key, "item-keys")
        self._local = threading.local()
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._destroyed = 0  # deletions so far: a lookup that crossed one keeps nothing

    def make(self, s: Session, item_hash: bytes) -> bytes:
        """A fresh key for an item recorded in ``s``; written when ``s`` commits."""
        key = os.urandom(32)
        self._listen(s)
        s.info.setdefault(_PENDING, {})[item_hash] = key
        return key

    def doom(self, s: Session, hashes: Iterable[bytes]) -> None:
        """Destroy these items' keys once ``s`` commits (listed as doomed before)."""
        doomed = set(hashes)
        if not doomed:
            return
        self._listen(s)
        if _DOOMED not in s.info:
            on_commit(s, lambda: self._destroy_doomed(s))
        s.info.setdefault(_DOOMED, set()).update(doomed)

    def doomed(self) -> list[bytes]:
        """Keys listed as doomed and not deleted yet (a crash, or a rolled-back
        destruction whose list the ledger's next pass clears with :meth:`spare`)."""
        return [r[0] for r in self._db().execute("SELECT item_hash FROM doomed")]

    def spare(self, hashes: Iterable[bytes]) -> None:
        """Strike keys off the doomed list without deleting them."""
        self._db().executemany("DELETE FROM doomed WHERE item_hash = ?", [(h,) for h in hashes])

    def get(self, s: Session | None, item_hash: bytes) -> bytes | None:
        """The item's key, or None if it was destroyed (or never made)."""
        pending: dict[bytes, bytes] = s.info.get(_PENDING, {}) if s is not None else {}
        if (key := pending.get(item_hash)) is not None:
            return key
        with self._lock:
            if (key := self._cache.get(item_hash)) is not None:
                self._cache.move_to_end(item_hash)
                return key
            seen = self._destroyed
        row = (
            self._db()
            .execute("SELECT sealed FROM item_key WHERE item_hash = ?", (item_hash,))
            .fetchone()
        )
        if row is None:
            return None
        key = unseal(self._seal_key, SEAL_KIND, row[0])
        self._remember(item_hash, key, seen)
        return key

    def destroy(self, hashes: Iterable[bytes]) -> None:
        """Delete these items' keys for good (committed when this returns), and strike
        them off the doomed list."""
        doomed = [(h,) for h in hashes]
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("DELETE FROM item_key WHERE item_hash = ?", doomed)
            db.executemany("DELETE FROM doomed WHERE item_hash = ?", doomed)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        with self._lock:
            self._destroyed += 1
            for (item_hash,) in doomed:
                self._cache.pop(item_hash, None)
        self._checkpoint(db)

    def count(self) -> int:
        return int(self._db().execute("SELECT count(*) FROM item_key").fetchone()[0])

    def copy_to(self, target: Path) -> None:
        """A consistent copy of the key file (for ``backup --item-keys``)."""
        with sqlite3.connect(target) as copy:
            self._db().backup(copy)
        copy.close()

    def _listen(self, s: Session) -> None:
        if not s.info.get(_LISTENING):
            s.info[_LISTENING] = True
            event.listen(s, "before_commit", self._write_pending)
            event.listen(s, "after_rollback", _forget_transaction)

    def _write_pending(self, s: Session) -> None:
        """The keys ``s`` made and the ones it dooms, durably, before it commits."""
        pending: dict[bytes, bytes] = s.info.pop(_PENDING, {})
        doomed: set[bytes] = s.info.get(_DOOMED, set())
        if not pending and not doomed:
            return
        rows = [(h, seal(self._seal_key, SEAL_KIND, k)) for h, k in pending.items()]
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR REPLACE INTO item_key VALUES (?, ?)", rows)
            db.executemany("INSERT OR IGNORE INTO doomed VALUES (?)", [(h,) for h in doomed])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        with self._lock:
            seen = self._destroyed
        for item_hash, key in pending.items():
            self._remember(item_hash, key, seen)

    def _destroy_doomed(self, s: Session) -> None:
        doomed: set[bytes] = s.info.pop(_DOOMED, set())
        if doomed:
            self.destroy(doomed)

    def _remember(self, item_hash: bytes, key: bytes, seen: int) -> None:
        """Cache a key read when ``seen`` deletions had been made (none since)."""
        with self._lock:
            if seen != self._destroyed:
                return  # a deletion crossed the lookup: the key may be gone
            self._cache[item_hash] = key
            while len(self._cache) > CACHED:
                self._cache.popitem(last=False)

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        """Empty the write-ahead log (where the deleted keys' pages still are); a
        reader can hold it back for a moment, so try again a few times."""
        for _ in range(CHECKPOINT_TRIES):
            busy, _log, _moved = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return
            time.sleep(0.05)
        log.warning("the item-key file's log could not be emptied; the next deletion retries")

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (sqlite3 connections stay in their thread)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            if not self.path.exists():
                make_private_file(self.path)
            db = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_MS / 1000)
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "secure_delete=ON"):
                db.execute(f"PRAGMA {pragma}")
            db.execute(
                "CREATE TABLE IF NOT EXISTS item_key "
                "(item_hash BLOB PRIMARY KEY, sealed BLOB NOT NULL) WITHOUT ROWID"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS doomed (item_hash BLOB PRIMARY KEY) WITHOUT ROWID"
            )
            self._local.db = db
        return db


def _forget_transaction(s: Session) -> None:
    """A rolled-back transaction's keys name no row, and what it doomed lives on."""
    s.info.pop(_PENDING, None)
    s.info.pop(_DOOMED, None)
