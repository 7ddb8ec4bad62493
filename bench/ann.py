"""Approximate nearest neighbours for sentence embeddings: what each library costs.

The station indexes one 384-dimensional, L2-normalised float32 embedding per sentence
(all-MiniLM-L6-v2, cosine similarity == inner product) and looks up the top 10 neighbours
of each of ~50 query sentences per article.  This benchmark compares, on synthetic data of
that shape, HNSW graphs from hnswlib, faiss and usearch (float32, and the compact
float16 / int8 storage faiss and usearch offer) against exact brute force (numpy matrix
product over float32 or float16 storage, and faiss ``IndexFlatIP``).

Data: unit vectors in clusters, fixed seed.  ``TOPICS`` random topic directions spawn
``CLUSTERS`` cluster centres, and each vector is a centre plus isotropic noise, normalised;
queries are drawn the same way, so neighbours are meaningful.  Clusters this clean are
easier for a graph than real embeddings, so read recall here as an upper bound; time and
memory hardly depend on the data.

Per library and index size N (``--sizes``), each in its own subprocess so that
allocations do not pollute one another, using ``--threads`` threads:

  build_s        building from N vectors
  add_ms         adding 1,000 more vectors to the built index (incremental add)
  index_mb       resident memory growth once built and the input freed (RSS, /proc)
  import_mb      resident memory growth from importing the library
  bytes_mb       size of the index serialised to an in-memory buffer
  in_memory      whether the library serialises to / loads from bytes without a file
  dump_ms        serialising to bytes;  load_ms: building a working index from them
  roundtrip_mb   peak resident growth over dump + load (index, buffer and loaded copy)
  query_ms       a batch of 50 queries, top 10: median over 20 batches (p95 also kept)
  vs_numpy       query_ms against numpy float32 brute force, same size, same run
  recall         recall@10 against exact float32 brute force over all N + 1,000 vectors
  recall_loaded  the same after the dump/load round trip
  sweep          query_ms and recall at each HNSW search breadth in ``--ef-search``
                 (the first is the headline figure above)
  other_cores    CPU cores other processes kept busy meanwhile: above ~0.2 the times
                 are inflated (OpenMP-based faiss suffers most)

Libraries that are not installed are skipped with a message; only numpy is required.

Run: ``python bench/ann.py [--sizes 100000 500000] [--backends ...]``; writes
``bench/results/ann.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.metadata
import importlib.util
import json
import os
import pickle
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "ann.json"
DIM = 384
K = 10
BATCH = 50  # query sentences in a ~1,000-word article
BATCHES = 20
ADD = 1_000
TOPICS = 50
CLUSTERS = 2_000
TOPIC_SPREAD = 1.0  # centre = topic + this much noise (as a fraction of a unit vector)
SPREAD = 1.0  # vector = centre + this much noise: nearest neighbour cosine ~0.55
CHUNK = 32_768  # rows per brute-force block: bounds temporaries to a few tens of MB
WORKER_TIMEOUT_S = 1_200
MB = 1024 * 1024

Blob = bytes | bytearray | memoryview


@dataclass(frozen=True)
class Params:
    """What every index is built with."""

    dim: int
    capacity: int
    m: int
    ef_construction: int
    ef_search: int
    threads: int
    seed: int


class Index(Protocol):
    """The operations the station needs from an index."""

    def add(self, vectors: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int) -> np.ndarray: ...

    def set_ef(self, ef: int) -> None: ...

    def dump(self) -> Blob: ...

    def load(self, blob: Blob) -> None: ...


# --- data -------------------------------------------------------------------------------


def unit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return out


def noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """Isotropic Gaussian noise with expected norm 1 per row."""
    return rng.standard_normal((n, DIM), dtype=np.float32) / np.float32(np.sqrt(DIM))


def cluster_centres(rng: np.random.Generator) -> np.ndarray:
    topics = unit(rng.standard_normal((TOPICS, DIM), dtype=np.float32))
    owner = rng.integers(0, TOPICS, CLUSTERS)
    return unit(topics[owner] + TOPIC_SPREAD * noise(rng, CLUSTERS))


def sample(rng: np.random.Generator, centres: np.ndarray, n: int) -> np.ndarray:
    out = np.empty((n, DIM), np.float32)
    for start in range(0, n, CHUNK):
        rows = min(CHUNK, n - start)
        label = rng.integers(0, len(centres), rows)
        out[start : start + rows] = unit(centres[label] + SPREAD * noise(rng, rows))
    return out


def exact_topk(matrix: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Ids of the k largest inner products per query, scanning ``matrix`` in blocks.

    Blocks of float16 storage are widened to float32 one at a time, so a float16 matrix
    costs half the memory of a float32 one plus one block.
    """
    q = np.ascontiguousarray(queries, dtype=np.float32)
    ids, scores = [], []
    for start in range(0, len(matrix), CHUNK):
        block = matrix[start : start + CHUNK].astype(np.float32, copy=False)
        s = q @ block.T
        kk = min(k, s.shape[1])
        top = np.argpartition(s, -kk, axis=1)[:, -kk:]
        ids.append(top + start)
        scores.append(np.take_along_axis(s, top, axis=1))
    all_ids, all_scores = np.concatenate(ids, axis=1), np.concatenate(scores, axis=1)
    order = np.argsort(-all_scores, axis=1)[:, :k]
    return np.take_along_axis(all_ids, order, axis=1).astype(np.int64)


def make_dataset(n: int, seed: int, folder: Path) -> None:
    """Write base, extra (the incremental add), queries and exact truth for size n."""
    rng = np.random.default_rng(seed)
    centres = cluster_centres(rng)
    base = sample(rng, centres, n)
    extra = sample(rng, centres, ADD)
    queries = sample(rng, centres, BATCH * BATCHES)
    truth = exact_topk(np.concatenate([base, extra]), queries, K)
    for name, array in (("base", base), ("extra", extra), ("queries", queries)):
        np.save(folder / f"{name}.npy", array)
    np.save(folder / "truth.npy", truth)


# --- memory -----------------------------------------------------------------------------


def rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / MB
    except OSError:
        psutil = importlib.import_module("psutil")
        return float(psutil.Process().memory_info().rss) / MB


def reset_peak() -> None:
    """Reset the kernel's resident high-water mark (VmHWM); Linux only."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


# --- indexes ----------------------------------------------------------------------------


class NumpyFlat:
    """Exact search over a row buffer grown like a list (no copy of it per add)."""

    def __init__(self, p: Params, dtype: str) -> None:
        self._p = p
        self._dtype = np.dtype(dtype)
        self._rows = np.empty((p.capacity, p.dim), self._dtype)  # untouched: not resident
        self._n = 0

    def add(self, vectors: np.ndarray) -> None:
        end = self._n + len(vectors)
        if end > len(self._rows):
            grown = np.empty((max(end, len(self._rows) * 3 // 2), self._p.dim), self._dtype)
            grown[: self._n] = self._rows[: self._n]
            self._rows = grown
        self._rows[self._n : end] = vectors
        self._n = end

    def search(self, queries: np.ndarray, k: int) -> np.ndarray:
        return exact_topk(self._rows[: self._n], queries, k)

    def set_ef(self, ef: int) -> None:
        pass  # exact: nothing to tune

    def dump(self) -> Blob:
        return self._rows[: self._n].tobytes()

    def load(self, blob: Blob) -> None:
        rows = np.frombuffer(blob, self._dtype).reshape(-1, self._p.dim)
        self._rows = np.empty((max(self._p.capacity, len(rows)), self._p.dim), self._dtype)
        self._rows[: len(rows)] = rows
        self._n = len(rows)


class Hnswlib:
    """hnswlib HNSW over float32, inner product."""

    def __init__(self, p: Params) -> None:
        self._p = p
        self._lib: Any = importlib.import_module("hnswlib")
        self._index: Any = self._lib.Index(space="ip", dim=p.dim)
        self._index.init_index(
            max_elements=p.capacity, M=p.m, ef_construction=p.ef_construction, random_seed=p.seed
        )
        self._configure()

    def _configure(self) -> None:
        self._index.set_num_threads(self._p.threads)
        self._index.set_ef(self._p.ef_search)

    def add(self, vectors: np.ndarray) -> None:
        start = self._index.get_current_count()
        if start + len(vectors) > self._index.get_max_elements():
            self._index.resize_index(start + len(vectors))
        self._index.add_items(vectors, np.arange(start, start + len(vectors)))

    def search(self, queries: np.ndarray, k: int) -> np.ndarray:
        labels, _ = self._index.knn_query(queries, k=k)
        return np.asarray(labels, dtype=np.int64)

    def set_ef(self, ef: int) -> None:
        self._index.set_ef(ef)

    def dump(self) -> Blob:
        return pickle.dumps(self._index, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, blob: Blob) -> None:
        self._index = pickle.loads(blob)
        self._configure()


class Faiss:
    """A faiss index built by ``factory``; ids are sequential (wrap in IndexIDMap for own)."""

    def __init__(self, p: Params, factory: Callable[[Any, Params], Any]) -> None:
        self._p = p
        self._faiss: Any = importlib.import_module("faiss")
        self._faiss.omp_set_num_threads(p.threads)
        self._index: Any = factory(self._faiss, p)

    def add(self, vectors: np.ndarray) -> None:
        if not self._index.is_trained:  # scalar quantisers learn value ranges once
            self._index.train(vectors)
        self._index.add(vectors)

    def search(self, queries: np.ndarray, k: int) -> np.ndarray:
        _, ids = self._index.search(queries, k)
        return np.asarray(ids, dtype=np.int64)

    def set_ef(self, ef: int) -> None:
        if hasattr(self._index, "hnsw"):
            self._index.hnsw.efSearch = ef

    def dump(self) -> Blob:
        return memoryview(self._faiss.serialize_index(self._index))

    def load(self, blob: Blob) -> None:
        self._index = self._faiss.deserialize_index(np.frombuffer(blob, np.uint8))
        self.set_ef(self._p.ef_search)


def faiss_flat(faiss: Any, p: Params) -> Any:
    return faiss.IndexFlatIP(p.dim)


def faiss_hnsw(faiss: Any, p: Params) -> Any:
    index = faiss.IndexHNSWFlat(p.dim, p.m, faiss.METRIC_INNER_PRODUCT)
    return tune_hnsw(index, p)


def faiss_hnsw_sq8(faiss: Any, p: Params) -> Any:
    qtype = faiss.ScalarQuantizer.QT_8bit
    index = faiss.IndexHNSWSQ(p.dim, qtype, p.m, faiss.METRIC_INNER_PRODUCT)
    return tune_hnsw(index, p)


def tune_hnsw(index: Any, p: Params) -> Any:
    index.hnsw.efConstruction = p.ef_construction
    index.hnsw.efSearch = p.ef_search
    return index


class USearch:
    """usearch HNSW; ``dtype`` is how vectors are stored (f32, f16, i8)."""

    def __init__(self, p: Params, dtype: str) -> None:
        self._p = p
        self._lib: Any = importlib.import_module("usearch.index")
        self._metric = "cos" if dtype == "i8" else "ip"  # int8 quantisation wants cosine
        self._index: Any = self._lib.Index(
            ndim=p.dim,
            metric=self._metric,
            dtype=dtype,
            connectivity=p.m,
            expansion_add=p.ef_construction,
            expansion_search=p.ef_search,
        )

    def add(self, vectors: np.ndarray) -> None:
        start = len(self._index)
        keys = np.arange(start, start + len(vectors), dtype=np.uint64)
        self._index.add(keys, vectors, threads=self._p.threads)

    def search(self, queries: np.ndarray, k: int) -> np.ndarray:
        found = self._index.search(queries, k, threads=self._p.threads)
        return np.asarray(found.keys, dtype=np.int64)

    def set_ef(self, ef: int) -> None:
        self._index.expansion_search = ef

    def dump(self) -> Blob:
        blob: Blob = self._index.save()  # a bytearray when given no path
        return blob

    def load(self, blob: Blob) -> None:
        self._index = self._lib.Index.restore(blob, expansion_search=self._p.ef_search)


@dataclass(frozen=True)
class Backend:
    """A named way of indexing, the module it needs, and how it persists and grows."""

    module: str
    make: Callable[[Params], Index]
    persist: str
    graph: bool = False  # approximate, with a search breadth (ef) to sweep
    in_memory: bool = True  # serialises to and loads from a buffer, no file needed


NUMPY_PERSIST = "ndarray.tobytes() / np.frombuffer(); adds fill spare preallocated rows"
FAISS_PERSIST = (
    "faiss.serialize_index -> uint8 array / faiss.deserialize_index(array); "
    "ids sequential unless wrapped in IndexIDMap; HNSW cannot remove ids"
)
HNSWLIB_PERSIST = (
    "pickle.dumps(index) / pickle.loads (in memory); save_index/load_index take a path only; "
    "capacity fixed by init_index (resize_index to grow); mark_deleted to remove"
)
USEARCH_PERSIST = (
    "index.save() -> bytearray / Index.restore(buffer) or index.load(buffer); view() maps a "
    "buffer or file without copying; grows by itself; remove() supported"
)
BACKENDS: dict[str, Backend] = {
    "numpy-f32": Backend("numpy", lambda p: NumpyFlat(p, "float32"), NUMPY_PERSIST),
    "numpy-f16": Backend("numpy", lambda p: NumpyFlat(p, "float16"), NUMPY_PERSIST),
    "faiss-flat": Backend("faiss", lambda p: Faiss(p, faiss_flat), FAISS_PERSIST),
    "faiss-hnsw": Backend("faiss", lambda p: Faiss(p, faiss_hnsw), FAISS_PERSIST, True),
    "faiss-hnsw-sq8": Backend("faiss", lambda p: Faiss(p, faiss_hnsw_sq8), FAISS_PERSIST, True),
    "hnswlib": Backend("hnswlib", Hnswlib, HNSWLIB_PERSIST, True),
    "usearch-f32": Backend("usearch", lambda p: USearch(p, "f32"), USEARCH_PERSIST, True),
    "usearch-f16": Backend("usearch", lambda p: USearch(p, "f16"), USEARCH_PERSIST, True),
    "usearch-i8": Backend("usearch", lambda p: USearch(p, "i8"), USEARCH_PERSIST, True),
}
BASELINE = "numpy-f32"


# --- one backend, one size (runs in a subprocess) ---------------------------------------


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(set(f) & set(t)) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def timed_queries(index: Index, queries: np.ndarray) -> tuple[list[float], np.ndarray]:
    """Milliseconds per batch of BATCH queries, and every id found."""
    index.search(queries[:BATCH], K)  # warm up caches and thread pools
    times, found = [], []
    for start in range(0, len(queries), BATCH):
        t0 = time.perf_counter()
        found.append(index.search(queries[start : start + BATCH], K))
        times.append((time.perf_counter() - t0) * 1000)
    return times, np.concatenate(found)


def all_found(index: Index, queries: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [index.search(queries[s : s + BATCH], K) for s in range(0, len(queries), BATCH)]
    )


def queries_at(index: Index, ef: int, queries: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    index.set_ef(ef)
    times, found = timed_queries(index, queries)
    return {
        "query_ms": statistics.median(times),
        "query_p95_ms": float(np.percentile(times, 95)),
        "recall": recall(found, truth),
    }


def measure(name: str, folder: Path, p: Params, sweep: list[int]) -> dict[str, Any]:
    before_import = rss_mb()
    index = BACKENDS[name].make(p)
    queries, truth = np.load(folder / "queries.npy"), np.load(folder / "truth.npy")
    baseline = rss_mb()
    out: dict[str, Any] = {"import_mb": baseline - before_import}

    base, extra = np.load(folder / "base.npy"), np.load(folder / "extra.npy")
    t0 = time.perf_counter()
    index.add(base)
    out["build_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    index.add(extra)
    out["add_ms"] = (time.perf_counter() - t0) * 1000
    del base, extra
    gc.collect()
    out["index_mb"] = rss_mb() - baseline

    efs = sweep if BACKENDS[name].graph else sweep[:1]
    out["sweep"] = {str(ef): queries_at(index, ef, queries, truth) for ef in efs}
    out.update(out["sweep"][str(p.ef_search)])
    index.set_ef(p.ef_search)
    out["in_memory"] = BACKENDS[name].in_memory
    out.update(round_trip(index, baseline))
    out["recall_loaded"] = recall(all_found(index, queries), truth)
    out["cpu_s"] = time.process_time()
    return out


def round_trip(index: Index, baseline: float) -> dict[str, Any]:
    """Serialise to bytes and load them back in place of the index; time, size, peak."""
    reset_peak()
    t0 = time.perf_counter()
    blob = index.dump()
    dump_ms = (time.perf_counter() - t0) * 1000
    size = memoryview(blob).nbytes
    t0 = time.perf_counter()
    index.load(blob)  # replaces the index; the old one is freed once replaced
    load_ms = (time.perf_counter() - t0) * 1000
    peak = peak_mb()
    del blob
    gc.collect()
    return {
        "bytes_mb": size / MB,
        "dump_ms": dump_ms,
        "load_ms": load_ms,
        "roundtrip_mb": None if peak is None else peak - baseline,
        "loaded_mb": rss_mb() - baseline,
    }


# --- driver -----------------------------------------------------------------------------


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def params(n: int, args: argparse.Namespace) -> Params:
    return Params(
        dim=DIM,
        capacity=n + ADD,
        m=args.m,
        ef_construction=args.ef_construction,
        ef_search=args.ef_search[0],
        threads=args.threads,
        seed=args.seed,
    )


def run_worker(name: str, n: int, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--data", str(folder)]
    cmd += ["--sizes", str(n), "--threads", str(args.threads), "--seed", str(args.seed)]
    cmd += ["--m", str(args.m), "--ef-construction", str(args.ef_construction)]
    cmd += ["--ef-search", *map(str, args.ef_search)]
    try:
        done = subprocess.run(
            cmd,
            check=False,
            capture_output=True,
            text=True,
            env=child_env(args.threads),
            timeout=args.timeout,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout:.0f} s"}
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:]
        return {"error": last[0] if last else f"exit {done.returncode}"}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def available(names: list[str]) -> list[str]:
    keep = []
    for name in names:
        module = BACKENDS[name].module
        if importlib.util.find_spec(module) is None:
            print(f"skip {name}: {module} is not installed", file=sys.stderr)
        else:
            keep.append(name)
    return keep


def versions() -> dict[str, str | None]:
    """Installed distribution versions (hnswlib has no ``__version__``)."""
    out: dict[str, str | None] = {}
    for dist in ("numpy", "faiss-cpu", "hnswlib", "usearch", "numkong", "psutil"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def add_ratios(rows: dict[str, dict[str, Any]]) -> None:
    base = rows.get(BASELINE, {}).get("query_ms")
    for row in rows.values():
        if base and "query_ms" in row:
            row["vs_numpy"] = row["query_ms"] / base


COLUMNS = (
    ("build_s", "build s", "{:.1f}"),
    ("add_ms", "add 1k ms", "{:.0f}"),
    ("index_mb", "index MB", "{:.0f}"),
    ("bytes_mb", "bytes MB", "{:.0f}"),
    ("dump_ms", "dump ms", "{:.0f}"),
    ("load_ms", "load ms", "{:.0f}"),
    ("roundtrip_mb", "rt peak MB", "{:.0f}"),
    ("query_ms", "50q ms", "{:.1f}"),
    ("vs_numpy", "vs numpy", "{:.3f}"),
    ("recall", "recall@10", "{:.3f}"),
    ("recall_loaded", "rec.load", "{:.3f}"),
)
TAIL = (("import_mb", "import MB", "{:.0f}"), ("other_cores", "others", "{:.1f}"))


def columns(sweep: list[int]) -> list[tuple[str, str, str]]:
    """The headline columns, then latency and recall at each further search breadth."""
    extra = []
    for ef in sweep[1:]:
        extra += [(f"sweep.{ef}.query_ms", f"ms@ef{ef}", "{:.1f}")]
        extra += [(f"sweep.{ef}.recall", f"rec@ef{ef}", "{:.3f}")]
    return [*COLUMNS, *extra, *TAIL]


def cell(row: dict[str, Any], key: str, fmt: str) -> str:
    value: Any = row
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "-" if value is None else fmt.format(value)


def table(n: int, rows: dict[str, dict[str, Any]], sweep: list[int]) -> str:
    cols = columns(sweep)
    lines = [[f"N={n:,} ef={sweep[0]}"] + [title for _, title, _ in cols]]
    for name, row in rows.items():
        if "error" in row:
            lines.append([name, f"error: {row['error']}"])
        else:
            lines.append([name] + [cell(row, key, fmt) for key, _, fmt in cols])
    widths = [max(len(line[i]) for line in lines if i < len(line)) for i in range(len(cols) + 1)]
    return "\n".join(aligned(line, widths) for line in lines)


def aligned(line: list[str], widths: list[int]) -> str:
    """The name left-aligned, figures right-aligned."""
    cells = [
        c.rjust(w) if i else c.ljust(w)
        for i, (c, w) in enumerate(zip(line, widths[: len(line)], strict=True))
    ]
    return "  ".join(cells)


def cpu_busy_s() -> float:
    """CPU seconds the whole machine has spent busy since boot (0 where /proc is absent)."""
    try:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_size(n: int, names: list[str], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="ann-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        make_dataset(n, args.seed, folder)
        print(f"N={n:,}: data and exact truth in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for name in names:
            t0, busy0, ours0 = time.perf_counter(), cpu_busy_s(), children_cpu_s()
            rows[name] = run_worker(name, n, folder, args)
            wall = time.perf_counter() - t0
            others = (cpu_busy_s() - busy0 - (children_cpu_s() - ours0)) / wall
            rows[name]["other_cores"] = max(others, 0.0)
            note = f" (other processes kept {others:.1f} cores busy)" if others > 0.2 else ""
            print(f"  {name}: {wall:.1f} s{note}", file=sys.stderr)
    add_ratios(rows)
    return rows


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 500_000])
    ap.add_argument("--backends", nargs="+", choices=list(BACKENDS), default=list(BACKENDS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--m", type=int, default=16, help="HNSW links per node")
    ap.add_argument("--ef-construction", type=int, default=128)
    ap.add_argument(
        "--ef-search", type=int, nargs="+", default=[64, 128], help="first is the headline"
    )
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--timeout", type=float, default=WORKER_TIMEOUT_S, help="per subprocess, s")
    ap.add_argument("--output", type=Path, default=RESULTS)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.worker:
        p = params(args.sizes[0], args)
        print(json.dumps(measure(args.worker, args.data, p, args.ef_search)))
        return
    names = available(args.backends)
    results = {str(n): run_size(n, names, args) for n in args.sizes}
    for n in args.sizes:
        print(table(n, results[str(n)], args.ef_search) + "\n")
    report = {
        "what": "ANN libraries for 384-d unit sentence embeddings; see bench/ann.py docstring",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "versions": versions(),
        "params": {
            "dim": DIM,
            "k": K,
            "batch": BATCH,
            "batches": BATCHES,
            "add": ADD,
            "topics": TOPICS,
            "clusters": CLUSTERS,
            "spread": SPREAD,
            "threads": args.threads,
            "m": args.m,
            "ef_construction": args.ef_construction,
            "ef_search": args.ef_search,
            "seed": args.seed,
        },
        "persistence": {name: BACKENDS[name].persist for name in names},
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
