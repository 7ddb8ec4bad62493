"""Two stations end to end, against a bare durable FastAPI endpoint in the same run.

It sends 1 KiB messages to station A's officer API and measures, per item, the time
from the start of the send request to the commit of that item at station B (B's
transcript records the commit time; both stations run on this machine's clock).  The
baseline is a bare FastAPI endpoint that commits each 1 KiB body to SQLite with the
same durability (WAL, ``synchronous=FULL``); its latency is request to response.
Throughput is items over the time from the first send to the last commit.

Both sides are started once and warmed up (connections opened, statements compiled)
with items that are not counted.  Then one round at concurrency 1, and ``--rounds``
rounds at concurrency 32 that alternate baseline and stations, so that a slow spell
of the machine hits both: the ratio is the median of the rounds' ratios, and the p99
is taken over the items of all rounds together.  Each round also records the CPU time
each server process spent on it, per item (Linux ``/proc``): station A is one Python
process, so its CPU per item is what bounds the station's throughput, and with many
``--rounds`` it shows whether that cost grows as the channel ages.  Everything listens
on 127.0.0.1, every loop is bounded, and every process is stopped at the end.

Run: ``.venv/bin/python bench/station.py [--items N] [--rounds R] [--out F]``; writes
``bench/results/station.json`` (or F) with ``station_items_per_s``, ``baseline_items_per_s``,
``ratio`` and ``p99_ms`` (all at concurrency 32), each round's figures, and the
figures at concurrency 1.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

import load
from backchannel.cli.demo import free_port, wait_healthy
from backchannel.protocol import Message
from backchannel.station.core.config import StationConfig
from backchannel.station.service import Station
from backchannel.store import TranscriptRow
from load import post_request

RESULTS = Path(__file__).parent / "results" / "station.json"
ITEM_BYTES = 1024
TARGET_RATIO, TARGET_P99_MS = 0.4, 250.0
WARMUP_ITEMS = 64
TIMEOUT = 300.0


@dataclass
class Round:
    """One round's per-item latencies (seconds) and its span, first send to last commit,
    and the CPU time each server process spent on it, in ms per item."""

    latencies: list[float]
    first: float
    last: float
    cpu_ms_per_item: dict[str, float]

    def figures(self) -> dict[str, float]:
        cpu = {f"cpu_ms_per_item_{name}": ms for name, ms in self.cpu_ms_per_item.items()}
        return summary(self.latencies, self.first, self.last) | cpu


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """User and system CPU time of a process so far (Linux /proc); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_item(before: float, after: float, n: int) -> float:
    return round((after - before) * 1000 / n, 3)


def summary(latencies_s: list[float], first: float, last: float) -> dict[str, float]:
    ms = sorted(x * 1000 for x in latencies_s)
    return {
        "items_per_s": round(len(ms) / (last - first), 1),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
    }


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args], stdout=log.open("ab"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for p in processes:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in processes:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def body(tag: str, i: int) -> str:
    return f"bench {tag} {i:08d} ".ljust(ITEM_BYTES, "x")


class Baseline:
    """The bare durable endpoint, as one process."""

    def __init__(self, work: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/commit"
        script = str(Path(__file__).parent / "baseline_app.py")
        self.process = spawn([script, str(work / "baseline.db"), str(port)], work / "b.log")
        wait_healthy(f"http://127.0.0.1:{port}", self.process)

    def round(self, tag: str, n: int, concurrency: int) -> Round:
        requests = [
            post_request(self.url, body(tag, i).encode(), "application/octet-stream")
            for i in range(n)
        ]
        cpu = cpu_seconds(self.process)
        started, done = asyncio.run(load.run(self.url, n, concurrency, requests.__getitem__))
        used = {"baseline": cpu_per_item(cpu, cpu_seconds(self.process), n)}
        return Round([done[i] - started[i] for i in range(n)], min(started.values()),
                     max(done.values()), used)  # fmt: skip


class Stations:
    """Stations A and B as two ``serve`` processes, paired and confirmed."""

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
        self.received = 0  # bench messages committed at B so far

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
        self.url = f"{a.config.public_url}/api/v1/channels/{a.resolve(None)}/messages"
        a.accounts.add("bench", "bench", "sender", role="officer", clearances=(),
                       password="bench password 1")  # fmt: skip
        self.token = a.accounts.create_token("bench", "bench", "sender", "bench")

    def round(self, tag: str, n: int, concurrency: int) -> Round:
        requests = [
            post_request(self.url, json.dumps({"text": body(tag, i)}).encode(),
                         "application/json", self.token)
            for i in range(n)
        ]  # fmt: skip
        cpu = [cpu_seconds(p) for p in self.processes]
        started, _ = asyncio.run(load.run(self.url, n, concurrency, requests.__getitem__))
        self.received += n
        committed = self._wait_committed(tag)
        used = {
            name: cpu_per_item(before, cpu_seconds(p), n)
            for name, before, p in zip(("a", "b"), cpu, self.processes, strict=True)
        }
        return Round([committed[i] - started[i] for i in range(n)], min(started.values()),
                     max(committed.values()), used)  # fmt: skip

    def _wait_committed(self, tag: str) -> dict[int, float]:
        """Commit time at B of each item of a round, waiting (bounded) for all of them."""
        # Poll a cheap count, so that the measuring does not compete for the CPU.
        deadline = time.monotonic() + TIMEOUT
        while self._count_received() < self.received:
            if time.monotonic() > deadline:
                raise RuntimeError("not every item reached station B in time")
            time.sleep(0.2)
        prefix = f"bench {tag} "
        return {
            int(e.item.text.split()[2]): e.created_at
            for e in self.b.inbox(None)
            if isinstance(e.item, Message) and e.item.text.startswith(prefix)
        }

    def _count_received(self) -> int:
        with self.b.db.reading() as s:
            query = select(func.count()).where(
                TranscriptRow.direction == "in", TranscriptRow.item_type == "message"
            )
            return s.scalar(query) or 0

    def stop(self) -> None:
        stop(self.processes)


def tell_logs(work: Path, baseline_log: str) -> None:
    """The end of each server's log, on a failed run: the reason is there."""
    for log in [*sorted(work.glob("*/serve.log")), work / baseline_log]:
        if log.exists():
            tail = log.read_text(errors="replace")[-3000:]
            print(f"--- end of {log.relative_to(work)}:\n{tail}", file=sys.stderr)


@contextmanager
def started(work: Path) -> Iterator[tuple[Baseline, Stations]]:
    baseline: Baseline | None = None
    stations: Stations | None = None
    try:
        baseline = Baseline(work)
        stations = Stations(work)
        yield baseline, stations
    except Exception:
        tell_logs(work, "b.log")
        raise
    finally:
        if stations is not None:
            stations.stop()
        if baseline is not None:
            stop([baseline.process])


def line(figures: dict[str, float]) -> str:
    cpu = " ".join(
        f"{key.removeprefix('cpu_ms_per_item_')} {value:.2f}"
        for key, value in figures.items()
        if key.startswith("cpu_ms_per_item_")
    )
    return (
        f"{figures['items_per_s']:>7.1f}/s p50 {figures['p50_ms']:.1f} ms "
        f"p99 {figures['p99_ms']:.1f} ms (cpu ms/item: {cpu})"
    )


def measure(items: int, rounds: int) -> dict[str, object]:
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-station-") as tmp, started(Path(tmp)) as both:
        baseline, stations = both
        for side in both:  # not counted: connections, statement caches, first commits
            side.round("warmup", WARMUP_ITEMS, 32)
        # The load client's own garbage collector must not pause it mid-round.
        gc.collect()
        gc.freeze()
        n1 = min(items, 300)
        base, stat = baseline.round("c1", n1, 1), stations.round("c1", n1, 1)
        result["c1"] = {"station": stat.figures(), "baseline": base.figures(), "items": n1}
        print(f"concurrency  1: station {line(stat.figures())} | baseline {line(base.figures())}")
        stat_rounds: list[Round] = []
        base_rounds: list[Round] = []
        for r in range(rounds):
            base_rounds.append(baseline.round(f"r{r}", items, 32))
            stat_rounds.append(stations.round(f"r{r}", items, 32))
            print(f"concurrency 32, round {r + 1}: {shown(stat_rounds[-1], base_rounds[-1])}")
        result["c32"] = {
            "rounds": [compared(s, b) for s, b in zip(stat_rounds, base_rounds, strict=True)],
            "items_per_round": items,
        }
        result["station_latency_ms"] = pooled([x for r in stat_rounds for x in r.latencies])
        result["baseline_latency_ms"] = pooled([x for r in base_rounds for x in r.latencies])
    return result | totals(stat_rounds, base_rounds)


def compared(stat: Round, base: Round) -> dict[str, object]:
    station, baseline = stat.figures(), base.figures()
    ratio = round(station["items_per_s"] / baseline["items_per_s"], 3)
    return {"station": station, "baseline": baseline, "ratio": ratio}


def shown(stat: Round, base: Round) -> str:
    station, baseline = stat.figures(), base.figures()
    ratio = station["items_per_s"] / baseline["items_per_s"]
    return f"station {line(station)} | baseline {line(baseline)} | ratio {ratio:.2f}"


def pooled(latencies_s: list[float]) -> dict[str, float]:
    """p50 and p99 over the items of every round together."""
    figures = summary(latencies_s, 0.0, 1.0)
    return {"p50_ms": figures["p50_ms"], "p99_ms": figures["p99_ms"]}


def totals(stat: list[Round], base: list[Round]) -> dict[str, float]:
    """Medians over the rounds: throughput of each side and the per-round ratio."""
    station = [r.figures()["items_per_s"] for r in stat]
    baseline = [r.figures()["items_per_s"] for r in base]
    return {
        "station_items_per_s": statistics.median(station),
        "baseline_items_per_s": statistics.median(baseline),
        "ratio": round(statistics.median(s / b for s, b in zip(station, baseline, strict=True)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Station throughput and latency vs a bare durable endpoint."
    )
    parser.add_argument("--items", type=int, default=1000, help="items per round (bounded)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds at concurrency 32")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the figures")
    args = parser.parse_args()
    if not (1 <= args.items <= 100_000 and 1 <= args.rounds <= 20):
        parser.error("--items must be 1..100000 and --rounds 1..20")
    result = measure(args.items, args.rounds)
    ratio = float(result["ratio"])  # type: ignore[arg-type]
    latency = result["station_latency_ms"]
    assert isinstance(latency, dict)
    p99 = latency["p99_ms"]
    result.update(
        p99_ms=p99,
        target_met=ratio >= TARGET_RATIO and p99 <= TARGET_P99_MS,
        timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    verdict = "met" if result["target_met"] else "NOT met"
    print(f"ratio (median of rounds) = {ratio:.2f} (target >= {TARGET_RATIO}), p99 at 32 "
          f"over all rounds = {p99} ms (target <= {TARGET_P99_MS:g}): {verdict}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
