"""The audit trail's head, kept again outside the database: a cut tail shows without the key.

The head row inside the database is tagged with the audit key, so nobody without the
key can forge one; but anyone who can write the database can save a head row, let
records be added, then delete them and put the saved row back, and the chain looks
whole.  So after every commit that appends to the trail, the station also writes the
new head (position and link, with a keyed tag) to ``audit.witness`` in its folder,
only ever forward.  ``audit verify`` then fails when the chain in the database does
not reach the witnessed position, or holds another link there.

This defends against whoever can write the database but not the station's folder —
a PostgreSQL server's administrator, a copied or restored database file.  Whoever
holds the folder holds the key as well and can rewrite anything; the counterpart's
witnessing of heads (a later issue) is the answer to that.  The file is written
without a disk flush: after a power cut it may lag the database, never lead it.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from backchannel.protocol.kdf import mac, mac_matches

WITNESS_FILE = "audit.witness"


class WitnessBroken(Exception):
    """The witness file was altered or cannot be read."""


@dataclass(frozen=True)
class Head:
    seq: int
    link: bytes


class Witness:
    def __init__(self, path: Path, key: bytes) -> None:
        self.path, self._key = path, key
        self._lock_path = path.with_name(path.name + ".lock")

    def read(self) -> Head | None:
        """The witnessed head, None if there is none yet; WitnessBroken if altered."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise WitnessBroken(f"{self.path} cannot be read: {exc.strerror}") from None
        try:
            doc = json.loads(text)
            head = Head(int(doc["seq"]), bytes.fromhex(doc["link"]))
            tag = bytes.fromhex(doc["tag"])
        except (ValueError, KeyError, TypeError):
            raise WitnessBroken(f"{self.path} is damaged") from None
        if not mac_matches(self._key, tag, "audit-witness", head.seq, head.link):
            raise WitnessBroken(f"{self.path} was altered")
        return head

    def advance(self, head: Head) -> None:
        """Witness ``head`` if it is further than the one witnessed (several processes)."""
        with self._locked():
            try:
                known = self.read()
            except WitnessBroken:
                known = None  # a damaged file is replaced by a good head
            if known is None or head.seq > known.seq:
                self._write(head)

    def reset(self, head: Head) -> None:
        """Witness ``head`` even if it is behind (a restore put an older trail back)."""
        with self._locked():
            self._write(head)

    def _write(self, head: Head) -> None:
        tag = mac(self._key, "audit-witness", head.seq, head.link)
        doc = {"seq": head.seq, "link": head.link.hex(), "tag": tag.hex()}
        staging = self.path.with_name(self.path.name + ".new")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(doc) + "\n")
        os.replace(staging, self.path)  # atomic: the old head or the new one, never half

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock
