"""Deconfliction: a new notification checked against the active ones, indexed and not.

Builds M active activities (``--sizes``, up to 100,000) of mixed shapes and sizes —
points with a radius of 0.2 to 20 km, corridors 5 to 80 km long and 0.5 to 5 km wide,
squares of 1 to 30 km — in five regions, one of them across the antimeridian (the Fiji
sea), with time windows of 1 to 12 hours starting within two weeks and half of them airborne.  Then
N new ones (``--checks``) are checked against them twice in the same run: with the
index (``ActiveSet.check``: the STRtree, then the exact check of each candidate) and
with a loop over every active one (``brute_force``), and the two answers compared.

Per size: ``indexed_ms_per_check`` (median), ``bruteforce_ms_per_check`` (median, on
fewer checks at the largest sizes), ``speedup`` (their ratio, measured in the same run:
the machines are noisy), ``identical`` (both found exactly the same meetings, with the
same figures, for every check), ``meetings`` found, and ``build_ms`` (the tree, built
once after the set changed).  The summary keys hold the largest size.

Run: ``python bench/deconfliction.py [--sizes 1000 10000 100000] [--checks 200]``;
writes ``bench/results/deconfliction.json``.

``--stations N`` also measures, between two real station processes on loopback (the
demo's), the time from A's principal submitting the incidents page's form (A's own
``serve`` process sends it, as it would) to the conflict it makes being recorded at
B: N times, each against a fresh notification of B's (the ``end_to_end`` keys, in
milliseconds).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from backchannel.analysis.incidents import ActiveSet, Activity, brute_force, parse_area
from backchannel.cli import demo
from backchannel.station.core.audit import Record
from backchannel.station.incidents.service import Plan

RESULTS = Path(__file__).parent / "results" / "deconfliction.json"
REGIONS = [(31.0, 46.5), (35.0, 33.0), (178.5, -17.5), (-60.0, -33.0), (127.0, 37.5)]
SPREAD = 1.5  # degrees around each region's centre
DAY = 86_400.0
SPAN = 14 * DAY  # the time windows start within two weeks
WARNING_M = 2_000.0


def wrap(lon: float) -> float:
    return (lon + 180) % 360 - 180


def random_activity(rng: random.Random, key: str) -> Activity:
    lon0, lat0 = rng.choice(REGIONS)
    lon, lat = wrap(lon0 + rng.uniform(-SPREAD, SPREAD)), lat0 + rng.uniform(-SPREAD, SPREAD)
    shape = rng.random()
    buffer = rng.uniform(0, 1000)
    if shape < 0.4:
        area = parse_area({"type": "Point", "coordinates": [lon, lat]},
                          radius_m=rng.uniform(200, 20_000), buffer_m=buffer)  # fmt: skip
    elif shape < 0.7:
        length = rng.uniform(0.05, 0.7)
        heading = rng.uniform(0, 6.283)
        end = [wrap(lon + length * math.cos(heading)), lat + length * math.sin(heading)]
        area = parse_area({"type": "LineString", "coordinates": [[lon, lat], end]},
                          width_m=rng.uniform(500, 5000), buffer_m=buffer)  # fmt: skip
    else:
        side = rng.uniform(0.01, 0.27)
        ring = [[lon, lat], [wrap(lon + side), lat], [wrap(lon + side), lat + side],
                [lon, lat + side], [lon, lat]]  # fmt: skip
        area = parse_area({"type": "Polygon", "coordinates": [ring]}, buffer_m=buffer)
    start = rng.uniform(0, SPAN)
    floor = rng.uniform(0, 6000) if rng.random() < 0.5 else None
    ceiling = floor + rng.uniform(100, 3000) if floor is not None else None
    return Activity(key, 1, area, start, start + rng.uniform(3600, 12 * 3600), floor, ceiling)


def figures(meetings: list[Any]) -> list[tuple[Any, ...]]:
    return [(m.first, m.second, m.start, m.end, m.overlap_m2, m.separation_m) for m in meetings]


def measure(size: int, checks: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    print(f"  {size:>7,} active: building", flush=True)
    actives = [random_activity(rng, f"a{i:06d}") for i in range(size)]
    new = [random_activity(rng, f"n{i:06d}") for i in range(checks)]
    index = ActiveSet(WARNING_M)
    for a in actives:
        index.add(a)
    began = time.perf_counter()
    index.check(new[0])  # builds the tree
    build_ms = (time.perf_counter() - began) * 1000
    indexed, found = [], []
    for n in new:
        began = time.perf_counter()
        found.append(index.check(n))
        indexed.append((time.perf_counter() - began) * 1000)
    brute_checks = checks if size <= 10_000 else max(10, checks // 10)
    brute, identical = [], True
    for n, seen in zip(new[:brute_checks], found, strict=False):
        began = time.perf_counter()
        expected = brute_force(n, actives, WARNING_M)
        brute.append((time.perf_counter() - began) * 1000)
        identical &= figures(expected) == figures(seen)
    row = {
        "n_active": size, "checks": checks, "bruteforce_checks": brute_checks,
        "indexed_ms_per_check": round(statistics.median(indexed), 3),
        "indexed_p95_ms": round(sorted(indexed)[int(0.95 * len(indexed))], 3),
        "bruteforce_ms_per_check": round(statistics.median(brute), 2),
        "build_ms": round(build_ms, 1), "identical": identical,
        "meetings": sum(len(f) for f in found),
    }  # fmt: skip
    row["speedup"] = round(
        row["bruteforce_ms_per_check"] / max(row["indexed_ms_per_check"], 1e-6), 1
    )
    print(f"  {size:>7,} active: indexed {row['indexed_ms_per_check']} ms, brute force "
          f"{row['bruteforce_ms_per_check']} ms per check ({row['speedup']}x), identical "
          f"{identical}, {row['meetings']} meetings", flush=True)  # fmt: skip
    return row


def end_to_end(rounds: int) -> dict[str, Any]:
    """A's send to the conflict recorded at B, between two serving stations."""
    with tempfile.TemporaryDirectory(prefix="backchannel-deconfliction-") as tmp:
        folder = Path(tmp)
        a, b = demo.create(folder / "a", "a"), demo.create(folder / "b", "b")
        processes = [demo.start(folder / "a"), demo.start(folder / "b")]
        try:
            for station, process in zip((a, b), processes, strict=True):
                demo.wait_healthy(station.config.public_url, process)
            b.pair(a.invite(3600))
            a.confirm(a.resolve(None))
            b.confirm(b.resolve(None))
            demo.wait_active([a, b])
            a.accounts.add("bench", "bench", "ann", role="principal", clearances=(),
                           password=PASSWORD)  # fmt: skip
            web = _signed_in(a.config.public_url, "ann")
            times = [_one_round(a, b, web, i) for i in range(rounds)]
        finally:
            demo.stop(processes)
            a.close()
            b.close()
    times.sort()
    return {
        "rounds": rounds, "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1), "max_ms": round(times[-1], 1),
    }  # fmt: skip


PASSWORD = "correct horse battery staple"


def _signed_in(url: str, name: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    token = re.search(r'name="form_token" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    client.post("/login", data={"name": name, "password": PASSWORD, "form_token": token[1],
                                "code": ""})  # fmt: skip
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/channels").text)
    assert csrf is not None, "signing in failed"
    return client, csrf[1]


def _one_round(a: Any, b: Any, web: tuple[httpx.Client, str], i: int) -> float:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3 + i)
    lon = 30.0 + 0.5 * (i % 20)
    theirs = Plan("exercise", {"type": "Point", "coordinates": [lon, 46.0]}, start,
                  start + timedelta(hours=4), start - timedelta(days=1), radius_m=3000,
                  details={"units": "b"})  # fmt: skip
    who = Record("bench", "notify", "bench")
    b.incidents.notify(b.resolve(None), theirs, who)
    demo.wait_drained([b])
    before = len(b.incidents.conflicts())
    client, csrf = web
    form = {
        "csrf": csrf, "kind": "exercise", "radius_m": "3000", "details": "units=a",
        "geojson": json.dumps({"type": "Point", "coordinates": [lon + 0.01, 46.0]}),
        "start": start.strftime("%Y-%m-%dT%H:%M"),
        "end": (start + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"),
        "ack_by": (start - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
    }  # fmt: skip
    began = time.time()
    sent = client.post(f"/channels/{a.resolve(None)}/incidents", data=form)
    if sent.status_code != 303:
        raise SystemExit(f"the incidents form was refused: {sent.status_code}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = b.incidents.conflicts()
        if len(found) > before:
            return float(max(c.detected_at for c in found) - began) * 1000
        time.sleep(0.005)
    raise SystemExit("the conflict did not reach B within 30 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stations", type=int, default=0, help="end-to-end rounds (0: none)")
    args = parser.parse_args()
    rows = [measure(size, args.checks, args.seed) for size in args.sizes]
    largest = rows[-1]
    result = {
        "warning_m": WARNING_M, "regions": REGIONS, "sizes": rows,
        **{k: largest[k] for k in ("n_active", "indexed_ms_per_check", "bruteforce_ms_per_check",
                                   "speedup", "identical")},
    }  # fmt: skip
    if args.stations:
        print(f"  end to end: {args.stations} rounds between two station processes", flush=True)
        result["end_to_end"] = end_to_end(args.stations)
        print(f"  end to end: median {result['end_to_end']['median_ms']} ms", flush=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
