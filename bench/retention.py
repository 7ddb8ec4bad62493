"""Retention's costs: per-item keys on the send and receive paths, and destruction.

Two stations in this process, paired as the tests pair them (no HTTP: what is measured
is the ledger).  Each round sends ``--items`` 1 KiB messages from A and delivers them to
B, once with per-item keys (as the station runs) and once with them turned off (every
body sealed under the station key, as before retention), alternating so that a slow
spell of the machine hits both.  Per item it takes the process's CPU time and the wall
time, on each side; the ratios are medians of the rounds' ratios.  The extra cost of a
keyed item is one more durable SQLite commit (the key file, ``synchronous=FULL``) and one
more sealing.

Then an accepted policy with a period of 0 destroys every message of the channel at A in
one retention pass (``destroy_items_per_s``), and an idle pass on the same archive, with
nothing due, is timed (``idle_pass_ms``: what the deadline watch pays every 15 s).

Run: ``.venv/bin/python bench/retention.py [--items N] [--rounds R]``; writes
``bench/results/retention.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backchannel.protocol import Message
from backchannel.protocol.retention import DESTRUCTIBLE, Rule
from backchannel.station.core import ledger
from backchannel.station.core.config import StationConfig
from backchannel.station.service import Station

RESULTS = Path(__file__).parent / "results" / "retention.json"
TEXT = "Routine traffic, kept a while and then destroyed by agreement. " * 16  # ~1 KiB


def make(folder: Path, name: str) -> Station:
    config = StationConfig(
        party=f"Party {name}", station=name, public_url=f"http://127.0.0.1:9/{name}",
        allow_private_endpoints=True,
    )  # fmt: skip
    Station.create(folder / name, config).close()
    return Station.open(folder / name)


def pair(folder: Path) -> tuple[Station, Station]:
    a, b = make(folder, "alpha"), make(folder, "bravo")
    b.pair(a.invite(3600), lambda _url, body: (a.accept_pairing(body), b"{}")[1])
    a.confirm(a.resolve(None))
    b.confirm(b.resolve(None))
    deliver(a, b)
    deliver(b, a)
    return a, b


def deliver(sender: Station, receiver: Station) -> int:
    channel = sender.resolve(None)
    count = 0
    for _seq, envelope, _endpoint in sender.undelivered(channel, 100_000):
        sender.take_ack(channel, receiver.receive(envelope))
        count += 1
    return count


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of ``work``."""
    cpu, wall = time.process_time(), time.perf_counter()
    work()
    return time.process_time() - cpu, time.perf_counter() - wall


def keyed_types(types: tuple[str, ...]) -> tuple[str, ...]:
    """Make the ledger seal these item types under keys of their own; the ones before."""
    names = vars(ledger)
    before: tuple[str, ...] = names["DESTRUCTIBLE"]
    names["DESTRUCTIBLE"] = types
    return before


def one_round(a: Station, b: Station, items: int, keyed: bool) -> dict[str, float]:
    saved = keyed_types(DESTRUCTIBLE if keyed else ())
    try:
        channel = a.resolve(None)
        msg = Message(text=TEXT, language="en", from_role="officer", to_role="principal")
        send_cpu, send_wall = timed(lambda: [a.send(channel, msg) for _ in range(items)])
        recv_cpu, recv_wall = timed(lambda: deliver(a, b))
        deliver(b, a)  # B's acknowledgements of transport, not counted
    finally:
        keyed_types(saved)
    return {
        "send_cpu_us": send_cpu / items * 1e6,
        "send_wall_us": send_wall / items * 1e6,
        "receive_cpu_us": recv_cpu / items * 1e6,
        "receive_wall_us": recv_wall / items * 1e6,
    }


def destruction(a: Station, b: Station) -> dict[str, float]:
    ca, cb = a.resolve(None), b.resolve(None)
    version = a.retention.propose(ca, "Everything, at once", (Rule(("message",), 0),))
    deliver(a, b)
    b.retention.answer(cb, version, True)
    deliver(b, a)
    deliver(a, b)
    start = time.perf_counter()
    destroyed = a.retention.apply()
    took = time.perf_counter() - start
    idle = []
    for _ in range(5):
        start = time.perf_counter()
        assert a.retention.apply() == 0
        idle.append((time.perf_counter() - start) * 1000)
    return {
        "destroyed": destroyed,
        "destroy_s": took,
        "destroy_items_per_s": destroyed / took,
        "idle_pass_ms": statistics.median(idle),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=300, help="messages per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each kind")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-retention-") as tmp:
        a, b = pair(Path(tmp))
        try:
            one_round(a, b, 50, True)  # warm-up: statements compiled, caches filled
            one_round(a, b, 50, False)
            rounds: list[dict[str, Any]] = []
            for n in range(args.rounds):
                for keyed in (True, False) if n % 2 == 0 else (False, True):
                    figures = one_round(a, b, args.items, keyed)
                    rounds.append({"keyed": keyed, **figures})
                    print(f"round {n + 1} {'keyed  ' if keyed else 'unkeyed'} "
                          + "  ".join(f"{k} {v:8.1f}" for k, v in figures.items()))  # fmt: skip
            destroyed = destruction(a, b)
        finally:
            a.close()
            b.close()
    ratios = {}
    for figure in ("send_cpu_us", "send_wall_us", "receive_cpu_us", "receive_wall_us"):
        with_keys = [r[figure] for r in rounds if r["keyed"]]
        without = [r[figure] for r in rounds if not r["keyed"]]
        ratios[f"{figure.removesuffix('_us')}_ratio_keyed_to_unkeyed"] = statistics.median(
            k / p for k, p in zip(with_keys, without, strict=True)
        )
        ratios[f"{figure}_keyed"] = statistics.median(with_keys)
        ratios[f"{figure}_unkeyed"] = statistics.median(without)
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "items_per_round": args.items,
        "rounds": rounds,
        **ratios,
        **destroyed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    for key, value in {**ratios, **destroyed}.items():
        print(f"{key:42} {value:10.2f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
