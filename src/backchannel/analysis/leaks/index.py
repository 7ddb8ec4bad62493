"""The leak index: every sentence of every text a station holds, by its words and its meaning.

Each text (a *document*: one part of one item, named by the caller) adds one row per
sentence: its embedding, and its keyed word shingles in an inverted list.  Rows are
only ever appended, so the index grows as items arrive and is rebuilt by nobody.

- **Lexical**: shingle → rows, kept as one sorted array pair (with the rows added since
  the last sort beside it, merged on the next look-up).  A look-up gives, per query
  sentence and row, how many shingles they share: containment both ways, exactly.
  Shingles that half the archive shares ("in order to") are skipped as carrying nothing.
- **Semantic**: the row vectors in an HNSW graph (faiss, inner product of unit vectors),
  for the nearest rows of each query sentence; a candidate's own vectors are read back
  from it for the alignment, sentence by sentence.

``to_bytes``/``from_bytes`` give the whole index as one byte string, for the caller to
seal: nothing here writes a file.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass

import faiss
import numpy as np

from backchannel.analysis.leaks.embed import DIMENSIONS

# The look-up graph (faiss HNSW; ``docs/leaks.md`` has the measurements behind it).
CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH = 16, 128, 64
MAX_POSTINGS = 500  # a shingle in more rows than this is too common to say anything
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
        self._first: list[int] = []  # first row of each document
        self._rows_doc = np.zeros(0, dtype=np.int32)
        self._sizes = np.zeros(0, dtype=np.int32)  # shingles per row
        self._nearest: faiss.Index = _graph()  # the rows' vectors: look-up and alignment
        self._keys = np.zeros(0, dtype=np.uint64)
        self._key_rows = np.zeros(0, dtype=np.int32)
        self._pending: list[tuple[np.ndarray, ...]] = []
        self._pending_rows = 0
        self.position = ""  # the caller's note of how far it has indexed

    @property
    def rows(self) -> int:
        return int(self._rows_doc.size) + self._pending_rows

    def add(self, doc: str, vectors: np.ndarray, shingles: list[np.ndarray]) -> None:
        """One document: a vector and the shingles of each of its sentences."""
        if len(vectors) != len(shingles):
            raise ValueError("one vector and one shingle set per sentence")
        first = self.rows
        number = len(self.docs)
        self.docs.append(doc)
        self._first.append(first)
        rows = np.arange(first, first + len(shingles), dtype=np.int32)
        keys = np.concatenate([*shingles, np.zeros(0, dtype=np.uint64)])
        key_rows = np.repeat(rows, [len(s) for s in shingles])
        docs = np.full(len(shingles), number, dtype=np.int32)
        sizes = np.array([len(s) for s in shingles], dtype=np.int32)
        self._pending.append((docs, sizes, vectors.astype(np.float32), keys, key_rows))
        self._pending_rows += len(shingles)

    def _settle(self) -> None:
        if not self._pending:
            return
        docs, sizes, vectors, keys, key_rows = (list(x) for x in zip(*self._pending, strict=True))
        self._pending, self._pending_rows = [], 0
        self._rows_doc = np.concatenate([self._rows_doc, *docs])
        self._sizes = np.concatenate([self._sizes, *sizes])
        added = np.ascontiguousarray(np.concatenate(vectors), dtype=np.float32)
        if added.size:
            self._nearest.add(added)  # rows are numbered in the order they are added
        all_keys = np.concatenate([self._keys, *keys])
        all_rows = np.concatenate([self._key_rows, *key_rows])
        order = np.argsort(all_keys, kind="stable")
        self._keys, self._key_rows = all_keys[order], all_rows[order]

    def without(self, names: set[str]) -> LeakIndex:
        """The index less these documents (their rows, vectors and shingles), rebuilt
        from what it holds: the texts themselves are not needed, nor kept."""
        self._settle()
        gone = np.array([i for i, d in enumerate(self.docs) if d in names], dtype=np.int32)
        keep_row = ~np.isin(self._rows_doc, gone)
        before = np.concatenate([[0], np.cumsum(keep_row, dtype=np.int64)])  # kept rows before
        kept_docs = [i for i, d in enumerate(self.docs) if d not in names]
        new_doc = np.full(len(self.docs) + 1, -1, dtype=np.int32)
        new_doc[kept_docs] = np.arange(len(kept_docs), dtype=np.int32)
        out = LeakIndex()
        out.docs = [self.docs[i] for i in kept_docs]
        out.position = self.position
        out._rows_doc = new_doc[self._rows_doc[keep_row]]
        out._sizes = self._sizes[keep_row]
        out._first = [int(before[self._first[i]]) for i in kept_docs]
        if self.rows:
            vectors = self._nearest.reconstruct_n(0, self.rows)[keep_row]
            if len(vectors):
                out._nearest.add(np.ascontiguousarray(vectors, dtype=np.float32))
        keep_key = keep_row[self._key_rows]
        out._keys = self._keys[keep_key]
        out._key_rows = before[self._key_rows[keep_key]].astype(np.int32)
        return out

    def doc_of(self, rows: np.ndarray) -> np.ndarray:
        self._settle()
        docs: np.ndarray = self._rows_doc[rows]
        return docs

    def rows_of(self, doc: int) -> range:
        self._settle()
        end = self._first[doc + 1] if doc + 1 < len(self.docs) else self.rows
        return range(self._first[doc], end)

    def sizes(self, rows: np.ndarray) -> np.ndarray:
        self._settle()
        sizes: np.ndarray = self._sizes[rows]
        return sizes

    def vectors(self, rows: range) -> np.ndarray:
        """The vectors of a run of rows (a document's), as added."""
        self._settle()
        if not rows:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        vectors: np.ndarray = self._nearest.reconstruct_n(rows.start, len(rows))
        return vectors

    def lexical(self, queries: list[np.ndarray]) -> Hits:
        """The rows sharing shingles with each query sentence, and how many (vectorised:
        every posting list is cut out of the sorted arrays at once)."""
        self._settle()
        empty = np.zeros(0, dtype=np.int32)
        if not queries or self._keys.size == 0:
            return Hits(empty, empty, empty)
        keys = np.concatenate(queries)
        owner = np.repeat(np.arange(len(queries)), [len(q) for q in queries])
        lo = np.searchsorted(self._keys, keys, side="left")
        counts = np.searchsorted(self._keys, keys, side="right") - lo
        keep = (counts > 0) & (counts <= MAX_POSTINGS)
        lo, counts, owner = lo[keep], counts[keep], owner[keep]
        if counts.size == 0:
            return Hits(empty, empty, empty)
        offsets = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        rows = self._key_rows[offsets + np.arange(int(counts.sum()))].astype(np.int64)
        pairs = (np.repeat(owner, counts).astype(np.int64) << 32) | rows
        unique, shared = np.unique(pairs, return_counts=True)
        return Hits(
            (unique >> 32).astype(np.int32),
            (unique & 0xFFFFFFFF).astype(np.int32),
            shared.astype(np.int32),
        )

    def semantic(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest rows of each query vector, and their cosine similarities."""
        self._settle()
        if self._nearest.ntotal == 0 or len(queries) == 0:
            shape = (len(queries), 0)
            return np.zeros(shape, dtype=np.int32), np.zeros(shape, dtype=np.float32)
        sims, found = self._nearest.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        missing = found < 0  # fewer rows than k: no neighbour there
        sims[missing] = -1.0
        return np.where(missing, 0, found).astype(np.int32), sims.astype(np.float32)

    def to_bytes(self) -> bytes:
        self._settle()
        out = io.BytesIO()
        meta = json.dumps({"format": FORMAT, "docs": self.docs, "position": self.position})
        np.savez(
            out, meta=np.frombuffer(meta.encode(), dtype=np.uint8),
            first=np.array(self._first, dtype=np.int64), rows_doc=self._rows_doc,
            sizes=self._sizes, keys=self._keys, key_rows=self._key_rows,
            nearest=faiss.serialize_index(self._nearest),
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
            index._first, index._rows_doc = z["first"].tolist(), z["rows_doc"]
            index._sizes = z["sizes"]
            index._keys, index._key_rows = z["keys"], z["key_rows"]
            try:
                nearest = faiss.deserialize_index(z["nearest"])
            except RuntimeError:
                raise ValueError("the index does not open: its graph does not read") from None
        if nearest.ntotal != index._rows_doc.size or nearest.d != DIMENSIONS:
            raise ValueError("the index does not open: its graph does not match its rows")
        index._nearest = nearest
        return index


def _graph() -> faiss.IndexHNSWFlat:
    """The look-up graph: HNSW over inner products of unit vectors (cosines)."""
    graph = faiss.IndexHNSWFlat(DIMENSIONS, CONNECTIVITY, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = EXPANSION_ADD
    graph.hnsw.efSearch = EXPANSION_SEARCH
    return graph
