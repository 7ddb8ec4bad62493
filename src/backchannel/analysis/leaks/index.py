"""The leak index: every sentence of every text a station holds, by its words and its meaning.

Each text (a *document*: one part of one item, named by the caller) adds one row per
sentence: its embedding, and its keyed word shingles in an inverted list.  Rows are
only ever appended, so the index grows as items arrive and is rebuilt by nobody.

- **Lexical**: shingle → rows, kept as one sorted array pair (with the rows added since
  the last sort beside it, merged on the next look-up).  A look-up gives, per query
  sentence and row, how many shingles they share: containment both ways, exactly.
  Shingles that half the archive shares ("in order to") are skipped as carrying nothing.
- **Semantic**: the row vectors, searched exactly (one matrix product over float32;
  ``docs/leaks.md`` has the measurement behind the choice).

``to_bytes``/``from_bytes`` give the whole index as one byte string, for the caller to
seal: nothing here writes a file.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass

import numpy as np

from backchannel.analysis.leaks.embed import DIMENSIONS

MAX_POSTINGS = 2000  # a shingle in more rows than this is too common to say anything
FORMAT = 1


@dataclass(frozen=True)
class Hits:
    """Per (query sentence, row) pair that shares something: the shared shingles."""

    query: np.ndarray  # int32, query sentence index
    row: np.ndarray  # int32
    shared: np.ndarray  # int32


class LeakIndex:
    def __init__(self) -> None:
        self.docs: list[str] = []
        self._first = np.zeros(0, dtype=np.int64)  # first row of each document
        self._rows_doc = np.zeros(0, dtype=np.int32)
        self._sizes = np.zeros(0, dtype=np.int32)  # shingles per row
        self._vectors = np.zeros((0, DIMENSIONS), dtype=np.float32)
        self._keys = np.zeros(0, dtype=np.uint64)
        self._key_rows = np.zeros(0, dtype=np.int32)
        self._pending: list[tuple[np.ndarray, ...]] = []
        self.position = ""  # the caller's note of how far it has indexed

    @property
    def rows(self) -> int:
        return int(self._rows_doc.size) + sum(p[0].size for p in self._pending)

    def add(self, doc: str, vectors: np.ndarray, shingles: list[np.ndarray]) -> None:
        """One document: a vector and the shingles of each of its sentences."""
        if len(vectors) != len(shingles):
            raise ValueError("one vector and one shingle set per sentence")
        first = self.rows
        number = len(self.docs)
        self.docs.append(doc)
        self._first = np.append(self._first, first)
        rows = np.arange(first, first + len(shingles), dtype=np.int32)
        keys = np.concatenate([*shingles, np.zeros(0, dtype=np.uint64)])
        key_rows = np.repeat(rows, [len(s) for s in shingles])
        docs = np.full(len(shingles), number, dtype=np.int32)
        sizes = np.array([len(s) for s in shingles], dtype=np.int32)
        self._pending.append((docs, sizes, vectors.astype(np.float32), keys, key_rows))

    def _settle(self) -> None:
        if not self._pending:
            return
        docs, sizes, vectors, keys, key_rows = (list(x) for x in zip(*self._pending, strict=True))
        self._pending = []
        self._rows_doc = np.concatenate([self._rows_doc, *docs])
        self._sizes = np.concatenate([self._sizes, *sizes])
        self._vectors = np.concatenate([self._vectors, *vectors])
        all_keys = np.concatenate([self._keys, *keys])
        all_rows = np.concatenate([self._key_rows, *key_rows])
        order = np.argsort(all_keys, kind="stable")
        self._keys, self._key_rows = all_keys[order], all_rows[order]

    def doc_of(self, rows: np.ndarray) -> np.ndarray:
        self._settle()
        docs: np.ndarray = self._rows_doc[rows]
        return docs

    def rows_of(self, doc: int) -> range:
        self._settle()
        end = int(self._first[doc + 1]) if doc + 1 < len(self.docs) else self.rows
        return range(int(self._first[doc]), end)

    def sizes(self, rows: np.ndarray) -> np.ndarray:
        self._settle()
        sizes: np.ndarray = self._sizes[rows]
        return sizes

    def vectors(self, rows: range | np.ndarray) -> np.ndarray:
        self._settle()
        vectors: np.ndarray = self._vectors[rows]
        return vectors

    def lexical(self, queries: list[np.ndarray]) -> Hits:
        """The rows sharing shingles with each query sentence, and how many."""
        self._settle()
        found_q, found_r = [], []
        for q, keys in enumerate(queries):
            lo = np.searchsorted(self._keys, keys, side="left")
            hi = np.searchsorted(self._keys, keys, side="right")
            for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
                if 0 < b - a <= MAX_POSTINGS:
                    found_r.append(self._key_rows[a:b])
                    found_q.append(np.full(b - a, q, dtype=np.int64))
        if not found_r:
            empty = np.zeros(0, dtype=np.int32)
            return Hits(empty, empty, empty)
        pairs = np.concatenate(found_q) * (1 << 32) + np.concatenate(found_r)
        unique, counts = np.unique(pairs, return_counts=True)
        return Hits(
            (unique >> 32).astype(np.int32),
            (unique & 0xFFFFFFFF).astype(np.int32),
            counts.astype(np.int32),
        )

    def semantic(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest rows of each query vector, and their cosine similarities."""
        self._settle()
        if self._vectors.shape[0] == 0 or len(queries) == 0:
            shape = (len(queries), 0)
            return np.zeros(shape, dtype=np.int32), np.zeros(shape, dtype=np.float32)
        k = min(k, self._vectors.shape[0])
        sims = queries.astype(np.float32) @ self._vectors.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        return top.astype(np.int32), np.take_along_axis(sims, top, axis=1)

    def to_bytes(self) -> bytes:
        self._settle()
        out = io.BytesIO()
        meta = json.dumps({"format": FORMAT, "docs": self.docs, "position": self.position})
        np.savez(
            out, meta=np.frombuffer(meta.encode(), dtype=np.uint8), first=self._first,
            rows_doc=self._rows_doc, sizes=self._sizes, vectors=self._vectors,
            keys=self._keys, key_rows=self._key_rows,
        )  # fmt: skip
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> LeakIndex:
        """The index ``to_bytes`` gave; ValueError for anything else (it is then rebuilt)."""
        if not data.startswith(b"PK\x03\x04"):  # an .npz is a zip file, nothing else is read
            raise ValueError("the index does not open: not an index")
        try:
            return cls._from_bytes(data)
        except (OSError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ValueError(f"the index does not open: {type(exc).__name__}") from None

    @classmethod
    def _from_bytes(cls, data: bytes) -> LeakIndex:
        index = cls()
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes())
            if meta.get("format") != FORMAT:
                raise ValueError("the index was written by another version; it is rebuilt")
            index.docs, index.position = list(meta["docs"]), str(meta["position"])
            index._first, index._rows_doc = z["first"], z["rows_doc"]
            index._sizes, index._vectors = z["sizes"], z["vectors"]
            index._keys, index._key_rows = z["keys"], z["key_rows"]
        return index
