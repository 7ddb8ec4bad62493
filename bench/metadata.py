"""What hiding the metadata costs: padding on a mix of item sizes, and time per item.

Two parts, written to ``bench/results/metadata.json``:

- **Padding.** Items are drawn (seeded) from a mix meant to look like a standing line
  between two ministries: many short answers and acknowledgements in words, ordinary
  messages, announcements of planned activities, proposals, and a few long documents
  (``MIX``).  Each is sent through a real channel as a version-2 envelope, which is
  opened again to see how many of its bytes are padding; the same item is also sent
  as a version-1 envelope (no padding, clear header).  Reported: padding in bytes and
  as a share of the unpadded envelope, in all and per class, and version 2 against
  version 1.  Target: at most 25% on the mix.
- **Time.** ``send_item`` + ``receive`` of a 1 KiB message in version 2, in version 1,
  and bare Olm, timed in interleaved rounds as ``bench/protocol.py`` does (its
  functions, the same session): the ratios version 2 / Olm (target ≤ 3, as there),
  version 1 / Olm and version 2 / version 1.

- **Cover traffic.** A filler's bytes on the wire (its batch and the acknowledgement
  that answers it) and the protocol's time to make one, tell it from an item and
  answer it, timed against a real 1 KiB item's send and receive in the same rounds;
  then what a day costs both stations at 6, 60 and 360 envelopes an hour each way.
  HTTP and TLS framing (a few hundred bytes a post) are not counted.

Run: ``.venv/bin/python bench/metadata.py [--items N] [--repetitions R]``
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from backchannel.protocol import Message
from backchannel.protocol.envelope import ACK_BYTES
from backchannel.station.core.batches import encode_batch
from backchannel.testing import ChannelPair
from protocol import core_runner, measure, olm_runner

RESULTS = Path(__file__).parent / "results" / "metadata.json"
TARGET_PADDING = 0.25
TARGET_CORE_TO_OLM = 3.0
SEED = 20261203
# class: (share of items, shortest and longest text in characters)
MIX: dict[str, tuple[float, int, int]] = {
    "answer": (0.35, 2, 200),
    "message": (0.30, 200, 2_000),
    "announcement": (0.20, 2_000, 8_000),
    "proposal": (0.12, 8_000, 20_000),
    "document": (0.03, 20_000, 65_000),  # a message holds at most 64 Ki characters
}


def sample(items: int) -> list[tuple[str, int]]:
    rng = random.Random(SEED)
    names, weights = list(MIX), [share for share, _lo, _hi in MIX.values()]
    drawn = rng.choices(names, weights, k=items)
    return [(name, rng.randint(MIX[name][1], MIX[name][2])) for name in drawn]


def text_of(length: int, rng: random.Random) -> str:
    words = ["patrol", "sector", "06:00", "vessel", "corridor", "K-7", "agreed", "notify"]
    out: list[str] = []
    while sum(map(len, out)) + len(out) < length:
        out.append(rng.choice(words))
    return " ".join(out)[:length]


def padding_of(pair: ChannelPair, data: bytes) -> int:
    """Bytes of zeros in a version-2 envelope (opened with the receiver's keys)."""
    channel = pair.b.channel
    plaintext, _ = channel._outer.open(channel.read(data))  # the bench may look inside
    olm = int.from_bytes(plaintext[:4], "big")
    return len(plaintext) - 4 - olm


def measure_padding(items: int) -> dict[str, object]:
    v2, v1 = ChannelPair.create(), ChannelPair.create(version=1)
    rng = random.Random(SEED)
    per_class: dict[str, dict[str, int]] = {
        n: {"items": 0, "padded": 0, "unpadded": 0, "v1": 0} for n in MIX
    }
    for name, length in sample(items):
        item = Message(
            text=text_of(length, rng), language="en", from_role="officer", to_role="principal"
        )
        data = v2.a.send(item)
        pad = padding_of(v2, data)
        v2.deliver(data, v2.b)
        old = v1.a.send(item)
        v1.deliver(old, v1.b)
        row = per_class[name]
        row["items"] += 1
        row["padded"] += len(data)
        row["unpadded"] += len(data) - pad
        row["v1"] += len(old)
    total = {
        k: sum(r[k] for r in per_class.values()) for k in ("items", "padded", "unpadded", "v1")
    }

    def share(row: dict[str, int]) -> dict[str, object]:
        return {
            **row,
            "padding_bytes": row["padded"] - row["unpadded"],
            "padding_share": round(row["padded"] / row["unpadded"] - 1, 4) if row["items"] else 0,
            "v2_over_v1": round(row["padded"] / row["v1"] - 1, 4) if row["items"] else 0,
        }

    return {
        "mix": {n: {"share": s, "chars": [lo, hi]} for n, (s, lo, hi) in MIX.items()},
        "seed": SEED,
        "total": share(total),
        "per_class": {n: share(r) for n, r in per_class.items()},
        "target_padding_share": TARGET_PADDING,
        "target_met": total["padded"] / total["unpadded"] - 1 <= TARGET_PADDING,
    }


def measure_time(items: int, repetitions: int) -> dict[str, object]:
    runners = {"v2": core_runner(False, 2), "v1": core_runner(False, 1), "olm": olm_runner()}
    n, samples = measure(runners, items, repetitions)

    def ratio(a: str, b: str) -> float:
        return round(
            statistics.median(x / y for x, y in zip(samples[a], samples[b], strict=True)), 3
        )

    return {
        "us_per_item": {k: round(statistics.median(v), 3) for k, v in samples.items()},
        "ratio_core_to_olm": ratio("v2", "olm"),
        "ratio_core_to_olm_v1": ratio("v1", "olm"),
        "ratio_v2_to_v1": ratio("v2", "v1"),
        "target_core_to_olm": TARGET_CORE_TO_OLM,
        "target_met": ratio("v2", "olm") <= TARGET_CORE_TO_OLM,
        "n": n,
        "repetitions": repetitions,
    }


COVER_RATES = (6, 60, 360)  # envelopes an hour each way


def measure_cover(repetitions: int) -> dict[str, object]:
    """The bytes and protocol time of a filler post, and a day of them at a few rates."""
    pair = ChannelPair.create()
    a, b = pair.a.channel, pair.b.channel
    post_bytes = len(encode_batch([a.filler()])) + ACK_BYTES

    def filler_round(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            data = a.filler()
            assert b.is_filler(data)
            a.receive_ack(b.ack())
        return (time.perf_counter() - start) / count * 1e6

    item = Message(text="x" * 1000, language="en", from_role="officer", to_role="principal")

    def item_round(count: int) -> float:
        start = time.perf_counter()
        for _ in range(count):
            pair.deliver(pair.a.send(item), pair.b)
            a.receive_ack(b.ack())
        return (time.perf_counter() - start) / count * 1e6

    fillers, items = [], []
    for _ in range(repetitions):  # interleaved: the machine's noise falls on both
        fillers.append(filler_round(50))
        items.append(item_round(50))
    us = statistics.median(fillers)
    per_day = {
        str(rate): {
            "posts": rate * 24 * 2,
            "megabytes": round(rate * 24 * 2 * post_bytes / 1e6, 2),
            "cpu_seconds": round(rate * 24 * 2 * us / 1e6, 3),
        }
        for rate in COVER_RATES
    }
    return {
        "filler_batch_bytes": post_bytes - ACK_BYTES,
        "ack_bytes": ACK_BYTES,
        "us_per_filler": round(us, 2),
        "us_per_item": round(statistics.median(items), 2),
        "ratio_filler_to_item": round(
            statistics.median(f / i for f, i in zip(fillers, items, strict=True)), 3
        ),
        "per_day_both_ways": per_day,
        "framing_not_counted": "HTTP and TLS headers of each post and answer",
    }


def report(result: dict[str, object]) -> None:
    padding = result["padding"]
    assert isinstance(padding, dict)
    print(f"padding on {padding['total']['items']} items of the mix (Padmé over 1 KiB):")
    print(f"  {'class':<14}{'items':>6}{'unpadded':>12}{'padded':>12}{'padding':>9}{'v2/v1':>8}")
    for name, row in [*padding["per_class"].items(), ("all", padding["total"])]:
        print(
            f"  {name:<14}{row['items']:>6}{row['unpadded']:>12,}{row['padded']:>12,}"
            f"{row['padding_share']:>9.1%}{row['v2_over_v1']:>+8.1%}"
        )
    verdict = "met" if padding["target_met"] else "NOT met"
    print(f"target padding <= {TARGET_PADDING:.0%} on the mix: {verdict}")
    timing = result["time"]
    assert isinstance(timing, dict)
    us = timing["us_per_item"]
    print(f"time per 1 KiB item (median of {timing['repetitions']} x {timing['n']}):")
    print(f"  version 2 {us['v2']:.1f} µs, version 1 {us['v1']:.1f} µs, Olm {us['olm']:.1f} µs")
    ratios = timing["ratio_core_to_olm"], timing["ratio_core_to_olm_v1"]
    print(f"ratio_core_to_olm = {ratios[0]:.2f} (version 1: {ratios[1]:.2f})")
    print(f"ratio_v2_to_v1    = {timing['ratio_v2_to_v1']:.2f}")
    verdict = "met" if timing["target_met"] else "NOT met"
    print(f"target ratio_core_to_olm <= {TARGET_CORE_TO_OLM:g}: {verdict}")
    cover = result["cover"]
    assert isinstance(cover, dict)
    print(
        f"cover traffic: a filler post is {cover['filler_batch_bytes']} + "
        f"{cover['ack_bytes']} bytes and {cover['us_per_filler']:.1f} µs of protocol work "
        f"({cover['ratio_filler_to_item']:.2f} x a 1 KiB item's {cover['us_per_item']:.1f} µs)"
    )
    for rate, day in cover["per_day_both_ways"].items():
        print(
            f"  {rate:>4} an hour each way: {day['posts']:>6} posts, "
            f"{day['megabytes']:>7.2f} MB, {day['cpu_seconds']:.3f} CPU s a day"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=400, help="items of the mix")
    parser.add_argument("--repetitions", type=int, default=101, help="timed rounds")
    args = parser.parse_args()
    print("padding ...", flush=True)
    result: dict[str, object] = {"padding": measure_padding(args.items)}
    print("timing ...", flush=True)
    result["time"] = measure_time(100, args.repetitions)
    print("cover traffic ...", flush=True)
    result["cover"] = measure_cover(max(5, args.repetitions // 5))
    result["timestamp"] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    report(result)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
