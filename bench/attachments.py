"""A 100 MiB file between two stations, against a plain HTTP transfer in the same run.

Two stations run as ``serve`` processes on loopback (SQLite, in a temporary folder),
paired.  Each round stages the file at A through the officer API (``POST
/api/v1/uploads``, then one ``PUT`` per 1 MiB chunk; not timed), then sends a message
naming it and times from the start of that request until B holds the whole file:
B's row of it is ``complete``, which B sets only once every chunk was opened under the
file's key and the bytes matched the SHA-256 the item names.  B records the moment in
the same transaction (one machine, one clock).  The file is then downloaded from B's
API and its SHA-256 checked here too.

The baseline is a plain HTTP file transfer of the same bytes between two local
processes: this script, as a client, streams the file with httpx in one ``POST`` to a
receiver process of its own (``--plain-receiver``: a bare ASGI app under the same
uvicorn and httptools as a station), which streams the body to a file and fsyncs it
before it answers.  Baseline and station rounds alternate, so that a slow spell of
the machine hits both; ``ratio_to_plain_http`` is the median of the rounds' throughput
ratios.

Memory: while a file crosses, the receiving station's resident set is sampled from
``/proc/PID/status`` every 10 ms, and its high-water mark (``VmHWM``) is reset before
the send (``/proc/PID/clear_refs``) and read after it, so a peak between two samples
is not missed.  ``peak_rss_mb`` is the highest of the rounds, in MiB, and
``peak_rss_growth_mb`` the most a transfer added to what the process held before the
send (an idle station holds far more than the transfer: see docs/benchmarks.md).
Each round also records the CPU time each process spent (Linux ``/proc``) and when
the first chunk arrived, which say where the time goes.  After a station round the
script waits until both stations are idle again (their leak indexes read the file).

Every wait is bounded, everything listens on 127.0.0.1, and every process is stopped
at the end.  Run: ``.venv/bin/python bench/attachments.py [--mib N] [--rounds R]
[--out F]``; writes ``bench/results/attachments.json`` (or F) with
``station_mib_per_s``, ``plain_http_mib_per_s``, ``ratio_to_plain_http``,
``peak_rss_mb`` and each round's figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from backchannel.cli.demo import free_port, wait_healthy
from backchannel.protocol.attachments import CHUNK_BYTES
from backchannel.station.core.config import StationConfig
from backchannel.station.leaks.indexer import INDEX_EVERY
from backchannel.station.service import Station
from backchannel.store.attachments import AttachmentRow
from station import cpu_seconds, spawn, stop, tell_logs

RESULTS = Path(__file__).parent / "results" / "attachments.json"
MIB = 1024 * 1024
TARGET_RATIO, TARGET_PEAK_MIB = 0.5, 128.0
TIMEOUT = 300.0  # the most one transfer may take
SETTLE_SECONDS = 60.0  # the most the stations are given to fall idle after one
SAMPLE_SECONDS = 0.01
POLL_SECONDS = 0.01  # how often B's row is read while a file crosses
WARMUP_MIB = 2
# The first bytes of a PDF (tests/station/files.py), so that libmagic finds application/pdf.
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)
CLIENT_TIMEOUT = httpx.Timeout(120.0, connect=5.0)


# -- the file ------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    path: Path
    size: int
    sha256: str


def write_source(path: Path, mib: int) -> Source:
    """Random bytes behind a PDF header, written 1 MiB at a time."""
    digest, size = hashlib.sha256(), mib * MIB
    with path.open("wb") as handle:
        written = 0
        while written < size:
            piece = PDF if written == 0 else b""
            piece += os.urandom(min(MIB, size - written) - len(piece))
            handle.write(piece)
            digest.update(piece)
            written += len(piece)
    return Source(path, size, digest.hexdigest())


def pieces(path: Path, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while piece := handle.read(size):
            yield piece


# -- a process's memory --------------------------------------------------------------


def status_kib(pid: int, key: str) -> int:
    """A field of /proc/PID/status in KiB (VmRSS, VmHWM); 0 if it cannot be read."""
    try:
        for row in Path(f"/proc/{pid}/status").read_text().splitlines():
            if row.startswith(key + ":"):
                return int(row.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class MemoryWatch:
    """The peak resident set of a process while the block runs, in MiB."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before_mib = status_kib(pid, "VmRSS") / 1024
        self.peak_mib = self.before_mib
        self.hwm_reset = _reset_hwm(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)
        if self.hwm_reset:  # the kernel's own peak since the reset: nothing between samples lost
            self.peak_mib = max(self.peak_mib, status_kib(self.pid, "VmHWM") / 1024)

    def _sample(self) -> None:
        while not self._done.wait(SAMPLE_SECONDS):
            self.peak_mib = max(self.peak_mib, status_kib(self.pid, "VmRSS") / 1024)


def _reset_hwm(pid: int) -> bool:
    """Set the process's VmHWM to its current resident set (Linux 4.0 and later)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# -- the baseline: one plain HTTP transfer ------------------------------------------

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def receiver_app(folder: Path) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """A bare ASGI app: ``POST /file`` streams its body to a file and fsyncs it."""

    async def answer(send: Send, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain")]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/health":
            await answer(send, 200, b"ok")
            return
        received = 0
        with (folder / "received.bin").open("wb") as out:
            more = True
            while more:
                message = await receive()
                data = message.get("body", b"")
                out.write(data)
                received += len(data)
                more = message.get("more_body", False)
            out.flush()
            os.fsync(out.fileno())
        await answer(send, 200, str(received).encode())

    return app


def serve_receiver(folder: Path, port: int) -> None:
    import uvicorn  # noqa: PLC0415 (only the receiver process serves)

    uvicorn.run(receiver_app(folder), host="127.0.0.1", port=port, log_level="warning",
                http="httptools", lifespan="off")  # fmt: skip


class PlainHttp:
    """The receiver process, and this process as its client."""

    def __init__(self, work: Path) -> None:
        port = free_port()
        self.folder = work / "plain"
        self.folder.mkdir()
        self.url = f"http://127.0.0.1:{port}"
        args = [__file__, "--plain-receiver", str(self.folder), str(port)]
        self.process = spawn(args, work / "plain.log")
        wait_healthy(self.url, self.process)
        self.client = httpx.Client(timeout=CLIENT_TIMEOUT)

    def round(self, source: Source) -> dict[str, float]:
        os.sync()  # what earlier rounds wrote is on disk, not flushed during this one
        cpu = cpu_seconds(self.process), time.process_time()
        with MemoryWatch(self.process.pid) as memory:
            started = time.time()
            response = self.client.post(
                self.url + "/file", content=pieces(source.path),
                headers={"content-length": str(source.size)},
            )  # fmt: skip
            ended = time.time()
        if response.status_code != 200 or int(response.text) != source.size:
            raise RuntimeError(f"the plain receiver answered {response.status_code}")
        (self.folder / "received.bin").unlink()
        return {
            "seconds": round(ended - started, 3),
            "mib_per_s": round(source.size / MIB / (ended - started), 1),
            "cpu_s_receiver": round(cpu_seconds(self.process) - cpu[0], 3),
            "cpu_s_client": round(time.process_time() - cpu[1], 3),
            "peak_rss_growth_mb_receiver": round(memory.peak_mib - memory.before_mib, 1),
        }

    def stop(self) -> None:
        self.client.close()
        stop([self.process])


def settle(processes: list[subprocess.Popen[bytes]], least: float) -> list[float]:
    """Wait until the processes are idle, and the CPU seconds each spent meanwhile.

    After a file arrives, each station's leak index reads it (its words, at the next
    pass of the index, every INDEX_EVERY seconds): that work is the station's, but not
    the transfer's, and it must not land in the next round of either side.  So: at
    least ``least`` seconds, then until no process used 2 % of a core over a second
    (bounded by SETTLE_SECONDS)."""
    start = last = [cpu_seconds(p) for p in processes]
    begun = time.monotonic()
    while time.monotonic() < begun + SETTLE_SECONDS:
        time.sleep(1.0)
        now = [cpu_seconds(p) for p in processes]
        idle = all(n - before < 0.02 for n, before in zip(now, last, strict=True))
        if idle and time.monotonic() - begun >= least:
            break
        last = now
    return [n - s for n, s in zip(last, start, strict=True)]


# -- the stations --------------------------------------------------------------------


class Stations:
    """Stations A and B as two ``serve`` processes, paired, with an officer at each."""

    def __init__(self, work: Path) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        stations = []
        for name in ("a", "b"):
            port = free_port()
            config = StationConfig(
                party=f"Bench {name}", station=f"bench-{name}", public_url=f"http://127.0.0.1:{port}",
                port=port, allow_private_endpoints=True,
            )  # fmt: skip
            folder = work / name
            stations.append(Station.create(folder, config))
            args = ["-m", "backchannel.cli", "serve", "--station", str(folder)]
            self.processes.append(spawn(args, folder / "serve.log"))
        self.a, self.b = stations
        for station, process in zip(stations, self.processes, strict=True):
            wait_healthy(station.config.public_url, process)
        self._pair()
        self.client = httpx.Client(timeout=CLIENT_TIMEOUT)

    def _pair(self) -> None:
        a, b = self.a, self.b
        b.pair(a.invite(3600))
        a.confirm(a.resolve(None))
        b.confirm(b.resolve(None))
        deadline = time.monotonic() + 60
        while not (a.status().confirmed and b.status().confirmed):
            if time.monotonic() > deadline:
                raise RuntimeError("the stations did not confirm each other in time")
            time.sleep(0.05)
        self.channel = a.resolve(None)
        self.headers = {}
        for side, station in (("a", a), ("b", b)):
            station.accounts.add("bench", "bench", f"officer-{side}", role="officer",
                                 clearances=(), password="bench password 1")  # fmt: skip
            token = station.accounts.create_token("bench", "bench", f"officer-{side}", "bench")
            self.headers[side] = {"authorization": f"Bearer {token}"}

    def stage(self, source: Source) -> str:
        """Stage the file at A over its officer API, chunk by chunk; its upload id."""
        a = self.a.config.public_url
        begun = self.client.post(a + "/api/v1/uploads", headers=self.headers["a"], json={
            "name": source.path.name, "size": source.size, "digest": source.sha256})  # fmt: skip
        begun.raise_for_status()
        upload_id = str(begun.json()["upload_id"])
        answer = begun
        for index, piece in enumerate(pieces(source.path)):
            answer = self.client.put(f"{a}/api/v1/uploads/{upload_id}/chunks/{index}",
                                     headers=self.headers["a"], content=piece)  # fmt: skip
            answer.raise_for_status()
        if answer.json()["state"] != "staged":
            raise RuntimeError(f"the upload is {answer.json()['state']}, not staged")
        if answer.json()["media_type"] != "application/pdf":
            raise RuntimeError(f"libmagic found {answer.json()['media_type']}")
        return upload_id

    def round(self, source: Source, tag: str) -> dict[str, float]:
        staging = time.monotonic()
        upload_id = self.stage(source)
        staged_s = time.monotonic() - staging
        a, b = self.processes
        os.sync()  # the staged file is on disk, not flushed during the transfer
        cpu = cpu_seconds(a), cpu_seconds(b)
        with MemoryWatch(b.pid) as memory:
            started = time.time()
            sent = self.client.post(
                f"{self.a.config.public_url}/api/v1/channels/{self.channel}/messages",
                headers=self.headers["a"],
                json={"text": f"bench {tag}", "attachments": [upload_id]},
            )
            sent.raise_for_status()
            item = str(sent.json()["envelope_hash"])
            arrived, first, completed = self._wait_complete(item)
        used = cpu_seconds(a) - cpu[0], cpu_seconds(b) - cpu[1]
        with MemoryWatch(b.pid) as download:
            self._check_download(item, source)
        after = settle(self.processes, INDEX_EVERY + 1)
        seconds, chunks = completed - started, source.size // CHUNK_BYTES
        return {
            "seconds": round(seconds, 3),
            "mib_per_s": round(source.size / MIB / seconds, 1),
            "item_at_b_s": round(arrived - started, 3),
            "first_chunk_s": round(first - started, 3),
            "ms_per_chunk": round((completed - first) * 1000 / max(1, chunks - 1), 2),
            "cpu_s_a": round(used[0], 3),
            "cpu_s_b": round(used[1], 3),
            "rss_before_mb": round(memory.before_mib, 1),
            "peak_rss_mb": round(memory.peak_mib, 1),
            "peak_rss_growth_mb": round(memory.peak_mib - memory.before_mib, 1),
            "download_peak_rss_growth_mb": round(download.peak_mib - download.before_mib, 1),
            "staging_s": round(staged_s, 3),
            "cpu_s_a_after": round(after[0], 3),
            "cpu_s_b_after": round(after[1], 3),
        }

    def _wait_complete(self, item: str) -> tuple[float, float, float]:
        """When B recorded the item, held its first chunk (seen by polling, within
        ``POLL_SECONDS``) and held the whole file (B's clock: one machine, one clock)."""
        deadline = time.monotonic() + TIMEOUT
        query = select(AttachmentRow.state, AttachmentRow.held, AttachmentRow.created_at,
                       AttachmentRow.updated_at, AttachmentRow.detail).where(
            AttachmentRow.item_hash == item, AttachmentRow.direction == "in")  # fmt: skip
        first = None
        while time.monotonic() < deadline:
            with self.b.db.reading() as s:
                row = s.execute(query).first()
            if row is not None and row.state == "refused":
                raise RuntimeError(f"station B refused the file: {row.detail}")
            if row is not None and first is None and row.held >= 1:
                first = row.updated_at  # exact when the poll sees one chunk, else a little late
            if row is not None and row.state == "complete":
                return row.created_at, first or row.updated_at, row.updated_at
            time.sleep(POLL_SECONDS if first is None else 5 * POLL_SECONDS)
        raise RuntimeError("the file was not complete at station B in time")

    def _check_download(self, item: str, source: Source) -> None:
        """B's officer API gives back the very bytes, streamed."""
        url = (f"{self.b.config.public_url}/api/v1/channels/{self.channel}/items/{item}"
               "/attachments/0")  # fmt: skip
        digest, size = hashlib.sha256(), 0
        with self.client.stream("GET", url, headers=self.headers["b"]) as got:
            got.raise_for_status()
            for piece in got.iter_bytes():
                digest.update(piece)
                size += len(piece)
        if (size, digest.hexdigest()) != (source.size, source.sha256):
            raise RuntimeError("the file downloaded from station B is not the one sent")

    def stop(self) -> None:
        self.client.close()
        self.a.close()
        self.b.close()
        stop(self.processes)


@contextmanager
def started(work: Path) -> Iterator[tuple[PlainHttp, Stations]]:
    plain: PlainHttp | None = None
    stations: Stations | None = None
    try:
        plain = PlainHttp(work)
        stations = Stations(work)
        yield plain, stations
    except Exception:
        tell_logs(work, "plain.log")
        raise
    finally:
        if stations is not None:
            stations.stop()
        if plain is not None:
            plain.stop()


# -- the run -------------------------------------------------------------------------


def measure(mib: int, rounds: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-attachments-") as tmp,
        started(Path(tmp)) as both,
    ):
        plain, stations = both
        work = Path(tmp)
        rss_at_start = status_kib(stations.processes[1].pid, "VmRSS") / 1024
        # Not counted: first connections, statement caches, libmagic's database, and
        # the leak index's embedding model, which each station loads at its first
        # pass after the first item (Stations.round waits for that pass).
        warmup = write_source(work / "warmup.pdf", WARMUP_MIB)
        plain.round(warmup)
        stations.round(warmup, "warmup")
        rss_warm = status_kib(stations.processes[1].pid, "VmRSS") / 1024
        print(f"station B's RSS: {rss_at_start:.0f} MiB at start, {rss_warm:.0f} MiB after "
              "the warm-up (the leak index's model loaded)")  # fmt: skip
        source = write_source(work / "archive.pdf", mib)
        result: list[dict[str, Any]] = []
        for r in range(rounds):
            base = plain.round(source)
            stat = stations.round(source, f"r{r}")
            ratio = round(stat["mib_per_s"] / base["mib_per_s"], 3)
            result.append({"station": stat, "plain_http": base, "ratio": ratio})
            print(f"round {r + 1}: {shown(stat, base, ratio)}")
    return totals(result, mib) | {
        "rss_at_start_mb": round(rss_at_start, 1),
        "rss_after_warmup_mb": round(rss_warm, 1),
    }


def shown(stat: dict[str, float], base: dict[str, float], ratio: float) -> str:
    return (
        f"station {stat['mib_per_s']:.1f} MiB/s in {stat['seconds']:.2f} s (item at B "
        f"{stat['item_at_b_s']:.2f} s, first chunk {stat['first_chunk_s']:.2f} s, then "
        f"{stat['ms_per_chunk']:.1f} ms a chunk; CPU A {stat['cpu_s_a']:.2f} s, B "
        f"{stat['cpu_s_b']:.2f} s, afterwards {stat['cpu_s_a_after']:.2f} s and "
        f"{stat['cpu_s_b_after']:.2f} s; B's RSS {stat['rss_before_mb']:.0f} -> peak "
        f"{stat['peak_rss_mb']:.0f} MiB) | plain HTTP {base['mib_per_s']:.1f} MiB/s in "
        f"{base['seconds']:.2f} s | ratio {ratio:.2f}"
    )


def totals(rounds: list[dict[str, Any]], mib: int) -> dict[str, Any]:
    """Medians over the rounds; the peaks are the highest of them."""
    station = [r["station"]["mib_per_s"] for r in rounds]
    plain = [r["plain_http"]["mib_per_s"] for r in rounds]
    return {
        "file_mib": mib,
        "station_mib_per_s": statistics.median(station),
        "plain_http_mib_per_s": statistics.median(plain),
        "ratio_to_plain_http": statistics.median(r["ratio"] for r in rounds),
        "peak_rss_mb": max(r["station"]["peak_rss_mb"] for r in rounds),
        "peak_rss_growth_mb": max(r["station"]["peak_rss_growth_mb"] for r in rounds),
        "download_peak_rss_growth_mb": max(
            r["station"]["download_peak_rss_growth_mb"] for r in rounds
        ),
        "rounds": rounds,
    }


def verdicts(result: dict[str, Any]) -> dict[str, bool]:
    """Each target, met or not.  The memory target is checked on the receiver's peak
    as measured and, beside it, on what the transfer added to the process."""
    return {
        "ratio_to_plain_http": result["ratio_to_plain_http"] >= TARGET_RATIO,
        "peak_rss_mb": result["peak_rss_mb"] <= TARGET_PEAK_MIB,
        "peak_rss_growth_mb": result["peak_rss_growth_mb"] <= TARGET_PEAK_MIB,
    }


def report(result: dict[str, Any], rounds: int) -> str:
    met = {k: "met" if v else "NOT met" for k, v in result["targets"].items()}
    return (
        f"{result['file_mib']} MiB, medians of {rounds} rounds: station "
        f"{result['station_mib_per_s']:.1f} MiB/s, plain HTTP "
        f"{result['plain_http_mib_per_s']:.1f} MiB/s\n"
        f"ratio_to_plain_http = {result['ratio_to_plain_http']:.2f} "
        f"(target >= {TARGET_RATIO}: {met['ratio_to_plain_http']})\n"
        f"peak_rss_mb = {result['peak_rss_mb']:.1f} (target <= {TARGET_PEAK_MIB:g}: "
        f"{met['peak_rss_mb']}; the idle station was {result['rss_at_start_mb']:.0f} MiB at "
        f"start and {result['rss_after_warmup_mb']:.0f} MiB after the warm-up)\n"
        f"peak_rss_growth_mb = {result['peak_rss_growth_mb']:.1f} during a transfer, "
        f"{result['download_peak_rss_growth_mb']:.1f} during a download "
        f"(<= {TARGET_PEAK_MIB:g}: {met['peak_rss_growth_mb']})"
    )


def main() -> None:
    if sys.argv[1:2] == ["--plain-receiver"]:  # the baseline's receiver process
        serve_receiver(Path(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(
        description="A file between two stations vs a plain HTTP transfer, and B's peak memory."
    )
    parser.add_argument("--mib", type=int, default=100, help="the file's size (1..100 MiB)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each (bounded)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the figures")
    args = parser.parse_args()
    if not (1 <= args.mib <= 100 and 1 <= args.rounds <= 10):
        parser.error("--mib must be 1..100 (a station's limit) and --rounds 1..10")
    result = measure(args.mib, args.rounds)
    result["targets"] = verdicts(result)
    result["timestamp"] = datetime.now(UTC).isoformat(timespec="seconds")
    print(report(result, args.rounds))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
