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
that then rolled back names no row and is harmless.  Deleted keys are overwritten in
the file (``secure_delete``), and the write-ahead log is emptied after each deletion.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from backchannel.protocol.kdf import derive_key
from backchannel.protocol.sealing import seal, unseal

from .config import make_private_file

KEYS_FILE = "item-keys.db"
SEAL_KIND = "item-key"
CACHED = 4096  # keys kept in memory (a thread page's worth, many times over)
BUSY_MS = 30_000
_PENDING = "item_keys"  # where a session keeps the keys it made


class ItemKeys:
    """The station's item keys: made with an item, looked up to read it, destroyed."""

    def __init__(self, folder: Path, station_key: bytes) -> None:
        self.path = folder / KEYS_FILE
        self._seal_key = derive_key(station_key, "item-keys")
        self._local = threading.local()
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def make(self, s: Session, item_hash: bytes) -> bytes:
        """A fresh key for an item recorded in ``s``; written when ``s`` commits."""
        key = os.urandom(32)
        pending: dict[bytes, bytes] | None = s.info.get(_PENDING)
        if pending is None:
            pending = s.info[_PENDING] = {}
            event.listen(s, "before_commit", self._write_pending)
        pending[item_hash] = key
        return key

    def get(self, s: Session | None, item_hash: bytes) -> bytes | None:
        """The item's key, or None if it was destroyed (or never made)."""
        pending: dict[bytes, bytes] = s.info.get(_PENDING, {}) if s is not None else {}
        if (key := pending.get(item_hash)) is not None:
            return key
        with self._lock:
            if (key := self._cache.get(item_hash)) is not None:
                self._cache.move_to_end(item_hash)
                return key
        row = (
            self._db()
            .execute("SELECT sealed FROM item_key WHERE item_hash = ?", (item_hash,))
            .fetchone()
        )
        if row is None:
            return None
        key = unseal(self._seal_key, SEAL_KIND, row[0])
        self._remember(item_hash, key)
        return key

    def destroy(self, hashes: Iterable[bytes]) -> None:
        """Delete these items' keys for good (committed when this returns)."""
        doomed = list(hashes)
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("DELETE FROM item_key WHERE item_hash = ?", [(h,) for h in doomed])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        with self._lock:
            for item_hash in doomed:
                self._cache.pop(item_hash, None)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def count(self) -> int:
        return int(self._db().execute("SELECT count(*) FROM item_key").fetchone()[0])

    def copy_to(self, target: Path) -> None:
        """A consistent copy of the key file (for ``backup --item-keys``)."""
        with sqlite3.connect(target) as copy:
            self._db().backup(copy)
        copy.close()

    def _write_pending(self, s: Session) -> None:
        pending: dict[bytes, bytes] = s.info.pop(_PENDING, {})
        if not pending:
            return
        rows = [(h, seal(self._seal_key, SEAL_KIND, k)) for h, k in pending.items()]
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR REPLACE INTO item_key VALUES (?, ?)", rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for item_hash, key in pending.items():
            self._remember(item_hash, key)

    def _remember(self, item_hash: bytes, key: bytes) -> None:
        with self._lock:
            self._cache[item_hash] = key
            while len(self._cache) > CACHED:
                self._cache.popitem(last=False)

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
            self._local.db = db
        return db
