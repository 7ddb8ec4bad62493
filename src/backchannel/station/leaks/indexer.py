"""The station's leak index: built behind delivery, sealed at rest, caught up on demand.

Every text a person reads of every item of every channel (the same texts the canary
marks vary: ``Marker.texts``) is one document of the index, named
``<channel>/<item hash>/<part>``; so is the text of each file an item carries, once
it is here whole (a feature's ``texts`` hook: ``attachment-<n>``).  The index
remembers, per channel, the last position (order of arrival) it holds; ``catch_up``
reads what came after, so nothing is indexed twice and nothing is missed, whichever
process runs it.

The receive path never waits for it: the ``IndexWatch`` thread catches up every few
seconds, and a scan first says how far behind the index is (and catches up itself).
The index is written to ``leaks.index`` in the station folder sealed with a subkey of
the station key (ChaCha20-Poly1305, as every sealed column), by a write to a temporary
file renamed over the old one, so a crash leaves the old index or the new one.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from backchannel.analysis import leaks
from backchannel.protocol.errors import ProtocolError
from backchannel.protocol.kdf import derive_key
from backchannel.protocol.sealing import seal, unseal
from backchannel.station.access.marking import Marker
from backchannel.station.core.config import PRIVATE_FILE
from backchannel.station.core.ledger import Ledger
from backchannel.station.core.on_commit import on_commit

log = logging.getLogger("backchannel.leaks")
INDEX_FILE = "leaks.index"
SEAL_KIND = "leak-index"
INDEX_EVERY = 5.0  # seconds between catch-ups (a scan catches up itself first)
BATCH = 200  # progress is reported every this many items


@dataclass(frozen=True)
class Lag:
    indexed: int  # documents in the index
    behind: int  # transcript items not yet read into it


class Indexer:
    def __init__(self, station: Ledger, embedder: leaks.Embedder) -> None:
        self.station, self.embedder = station, embedder
        self.shingle_key = derive_key(station.key, "leak-shingles")
        self._seal_key = derive_key(station.key, "leak-index")
        self._lock = threading.Lock()
        self._index: leaks.LeakIndex | None = None
        self._tried: set[str] = set()

    @property
    def path(self) -> Path:
        return self.station.folder / INDEX_FILE

    @contextmanager
    def reading(self) -> Iterator[leaks.LeakIndex]:
        """The index, held against the watch's writes while the caller reads it."""
        with self._lock:
            if self._index is None:
                self._index = self._load()
            yield self._index

    def article(self, text: str) -> leaks.Article:
        """A published text, read the way the index reads the archive."""
        return leaks.read_article(text, self.embedder.embed, self.shingle_key)

    def lag(self) -> Lag:
        with self.reading() as index:
            positions, indexed = _positions(index), len(index.docs)
        with self.station.db.reading() as s:
            behind = sum(
                len(self.station.transcript_in(s, c.channel_id, positions.get(c.channel_id, 0)))
                for c in self.station.statuses()
            )
        return Lag(indexed, behind)

    def forget(self, s: Session, channel_id: str, hashes: list[bytes]) -> None:
        """Once ``s`` commits the destruction of these items' bodies, drop every text of
        theirs from the index and save it: a scan finds them no more, in this file or
        any later copy of it.  (A rollback keeps them indexed.)"""
        on_commit(s, lambda: self._drop(channel_id, hashes))

    def _drop(self, channel_id: str, hashes: list[bytes]) -> None:
        prefixes = tuple(f"{channel_id}/{h.hex()}/" for h in hashes)
        with self.reading() as index:
            doomed = {name for name in index.docs if name.startswith(prefixes)}
            if doomed:
                self._index = index.without(doomed)
                self._save(self._index)

    def catch_up(self, progress: Callable[[int], None] | None = None) -> int:
        """Read every item the index does not hold yet; the number of items read."""
        with self.reading() as index:
            read = self._read_new(index, progress)
            if read:
                self._save(index)
            return read

    def _read_new(self, index: leaks.LeakIndex, progress: Callable[[int], None] | None) -> int:
        positions = _positions(index)
        read = 0
        for status in self.station.statuses():
            channel_id = status.channel_id
            with self.station.db.reading() as s:
                entries = self.station.transcript_in(s, channel_id, positions.get(channel_id, 0))
            for e in entries:
                hooks = self.station.hooks.item(e.item_type)
                for part, text, _language in Marker.texts(hooks, e.item):
                    name = f"{channel_id}/{e.envelope_hash}/{part}"
                    leaks.add_text(index, name, text, self.embedder.embed, self.shingle_key)
                positions[channel_id] = max(positions.get(channel_id, 0), e.position)
                read += 1
                if progress and read % BATCH == 0:
                    progress(read)
        index.position = json.dumps(positions, sort_keys=True)
        return read + self._read_held(index)

    def _read_held(self, index: leaks.LeakIndex) -> int:
        """The texts features hold beside items (a file's words, once it is here whole).
        A name tried in this process and found without text is not read again."""
        known = set(index.docs) | self._tried
        read = 0
        for feature in self.station.hooks.features:
            if feature.texts is None:
                continue
            for name, text in feature.texts.new(known):
                self._tried.add(name)
                read += bool(leaks.add_text(index, name, text, self.embedder.embed,
                                            self.shingle_key))  # fmt: skip
        return read

    def _load(self) -> leaks.LeakIndex:
        try:
            sealed = self.path.read_bytes()
        except FileNotFoundError:
            return leaks.LeakIndex()
        try:
            return leaks.LeakIndex.from_bytes(unseal(self._seal_key, SEAL_KIND, sealed))
        except (ProtocolError, ValueError, KeyError, OSError) as exc:
            log.warning("the leak index does not open (%s); it is rebuilt", type(exc).__name__)
            return leaks.LeakIndex()

    def _save(self, index: leaks.LeakIndex) -> None:
        sealed = seal(self._seal_key, SEAL_KIND, index.to_bytes())
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(sealed)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)


def _positions(index: leaks.LeakIndex) -> dict[str, int]:
    return dict(json.loads(index.position)) if index.position else {}


class IndexWatch:
    """The thread that keeps the index caught up, behind delivery: each pass runs
    ``step`` (the leak scans' ``keep_up``: catch up, then what the counterpart asked)."""

    def __init__(self, step: Callable[[], object], every: float = INDEX_EVERY) -> None:
        self.step, self.every = step, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leak-index", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.step()
            except Exception:  # keep indexing whatever happens
                log.exception("indexing failed")
