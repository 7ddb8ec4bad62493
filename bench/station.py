"""Two stations end to end, against a bare durable FastAPI endpoint in the same run.

For each of concurrency 1 and 32 it sends a bounded number of 1 KiB messages to
station A's officer API and measures, per item, the time from the start of the send
request to the commit of that item at station B (B's transcript records the commit
time; both stations run on this machine's clock).  The baseline is a bare FastAPI
endpoint that commits each 1 KiB body to SQLite with the same durability (WAL,
``synchronous=FULL``); its latency is request to response.  Throughput is items over
the time from the first send to the last commit.  Everything listens on 127.0.0.1,
every loop is bounded, and every process is stopped at the end.

Run: ``.venv/bin/python bench/station.py [--items N]``; writes
``bench/results/station.json`` with ``station_items_per_s``, ``baseline_items_per_s``,
``ratio`` and ``p99_ms`` (all at concurrency 32) and the figures at concurrency 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

import load
from backchannel.cli.demo import free_port, wait_healthy
from backchannel.cli.main import http_post
from backchannel.protocol import Message
from backchannel.station.config import StationConfig
from backchannel.station.service import Station
from backchannel.store import TranscriptRow
from load import post_request

RESULTS = Path(__file__).parent / "results" / "station.json"
ITEM_BYTES = 1024
TARGET_RATIO, TARGET_P99_MS = 0.4, 250.0
TIMEOUT = 300.0


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


def body(i: int) -> str:
    return f"bench {i:08d} ".ljust(ITEM_BYTES, "x")


def summary(latencies_s: list[float], first: float, last: float) -> dict[str, float]:
    ms = sorted(x * 1000 for x in latencies_s)
    return {
        "items_per_s": round(len(ms) / (last - first), 1),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
    }


def run_baseline(work: Path, n: int, concurrency: int) -> dict[str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    base = str(Path(__file__).parent / "baseline_app.py")
    process = spawn([base, str(work / f"baseline-{concurrency}.db"), str(port)], work / "b.log")
    try:
        wait_healthy(url, process)
        target = url + "/commit"
        requests = [
            post_request(target, body(i).encode(), "application/octet-stream") for i in range(n)
        ]
        started, done = asyncio.run(load.run(target, n, concurrency, requests.__getitem__))
        latencies = [done[i] - started[i] for i in range(n)]
        return summary(latencies, min(started.values()), max(done.values()))
    finally:
        stop([process])


def run_stations(work: Path, n: int, concurrency: int) -> dict[str, float]:
    folders, processes = [], []
    try:
        stations = []
        for name in ("a", "b"):
            port = free_port()
            config = StationConfig(
                party=f"Bench {name}", station=f"bench-{name}", public_url=f"http://127.0.0.1:{port}",
                port=port,
            )  # fmt: skip
            folder = work / f"{name}-{concurrency}"
            stations.append(Station.create(folder, config))
            folders.append(folder)
            processes.append(
                spawn(
                    ["-m", "backchannel.cli", "serve", "--station", str(folder)],
                    folder / "serve.log",
                )
            )
        a, b = stations
        for s, process in zip(stations, processes, strict=True):
            wait_healthy(s.config.public_url, process)
        b.pair(a.invite(3600), http_post)
        a.confirm(a.resolve(None))
        b.confirm(b.resolve(None))
        deadline = time.monotonic() + 60
        while not (a.status().confirmed and b.status().confirmed) and time.monotonic() < deadline:
            time.sleep(0.05)
        channel = a.resolve(None)
        url = f"{a.config.public_url}/api/v1/channels/{channel}/messages"
        a.accounts.add("bench", "bench", "sender", role="officer", clearances=(),
                       password="bench password 1")  # fmt: skip
        token = a.accounts.create_token("bench", "bench", "sender", "bench")
        requests = [
            post_request(url, json.dumps({"text": body(i)}).encode(), "application/json", token)
            for i in range(n)
        ]
        started, _ = asyncio.run(load.run(url, n, concurrency, requests.__getitem__))
        committed = wait_committed(b, n)
        latencies = [committed[i] - started[i] for i in range(n)]
        return summary(latencies, min(started.values()), max(committed.values()))
    finally:
        stop(processes)


def wait_committed(station: Station, n: int) -> dict[int, float]:
    """Commit time at B of each bench item, waiting (bounded) until all are there."""
    # Poll a cheap count, so that the measuring does not compete for the CPU.
    deadline = time.monotonic() + TIMEOUT
    while received_messages(station) < n:
        if time.monotonic() > deadline:
            raise RuntimeError("not every item reached station B in time")
        time.sleep(0.2)
    return {
        int(e.item.text.split()[1]): e.created_at
        for e in station.inbox(None)
        if isinstance(e.item, Message)
    }


def received_messages(station: Station) -> int:
    with station.db.reading() as s:
        query = select(func.count()).where(
            TranscriptRow.direction == "in", TranscriptRow.item_type == "message"
        )
        return s.scalar(query) or 0


def line(figures: dict[str, float]) -> str:
    return (
        f"{figures['items_per_s']:>7.1f}/s p50 {figures['p50_ms']:.1f} ms "
        f"p99 {figures['p99_ms']:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Station throughput and latency vs a bare durable endpoint."
    )
    parser.add_argument("--items", type=int, default=600, help="items per run (bounded)")
    args = parser.parse_args()
    result: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="bench-station-") as tmp:
        work = Path(tmp)
        for concurrency in (1, 32):
            n = min(args.items, 300) if concurrency == 1 else args.items
            base = run_baseline(work, n, concurrency)
            stat = run_stations(work, n, concurrency)
            result[f"c{concurrency}"] = {"station": stat, "baseline": base, "items": n}
            print(f"concurrency {concurrency:>2}: station {line(stat)} | baseline {line(base)}")
    c32 = result["c32"]
    assert isinstance(c32, dict)
    ratio = c32["station"]["items_per_s"] / c32["baseline"]["items_per_s"]
    result.update(
        station_items_per_s=c32["station"]["items_per_s"],
        baseline_items_per_s=c32["baseline"]["items_per_s"],
        ratio=round(ratio, 3),
        p99_ms=c32["station"]["p99_ms"],
        target_met=ratio >= TARGET_RATIO and c32["station"]["p99_ms"] <= TARGET_P99_MS,
        timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    verdict = "met" if result["target_met"] else "NOT met"
    p99 = c32["station"]["p99_ms"]
    print(f"ratio = {ratio:.2f} (target >= {TARGET_RATIO}), p99 at 32 = {p99} ms", end=" ")
    print(f"(target <= {TARGET_P99_MS:g}): {verdict}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
