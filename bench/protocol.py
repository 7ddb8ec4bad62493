"""What the channel protocol costs per item, next to the primitives it is built on.

Three figures, each the median time of one 1 KiB item, in microseconds:

- ``core_us``: one ``Message`` of 1024 characters through ``backchannel.protocol``:
  ``send_item`` at station A and ``receive`` at station B (item validation and encoding,
  transcript links and hashes, the Olm layer, the outer AEAD, the strict decoder), with
  one cumulative delivery ack per round of items.  Snapshots are left out: persisting
  them is the driver's cost.
- ``core_with_ack_us``: the same plus B's delivery ack and A's ``receive_ack`` for every
  item.  Acks are cumulative, so a driver may acknowledge a batch with one; this figure
  is the worst case of one ack per item.
- ``olm_us``: bare vodozemac Olm, the same one-directional pattern: one side encrypts a
  1 KiB plaintext, the other decrypts it.
- ``aead_us``: one bare ChaCha20-Poly1305 encryption and decryption of 1 KiB with
  32 bytes of associated data (the outer layer's primitive).

The ratios ``core / olm`` and ``core / aead`` are what matters; the target is
``core / olm <= 3``.  The baselines are measured in the same run, with their repetitions
interleaved with the core's, because absolute timings on a shared or throttled machine
drift from run to run and even within a run (by half or more here).  So
``ratio_core_to_olm`` is the median of the per-round ratios, each round timing core and
Olm back to back; a ratio of figures taken side by side stays meaningful where a figure
compared with one recorded yesterday would not.

Each benchmark is warmed up first, then timed ``--repetitions`` times over ``--items``
items with the garbage collector paused (as ``timeit`` does), on the thread's CPU clock
(``time.thread_time``) so that time the machine gives to other work is not counted; the
median repetition is
reported.  The result goes to ``bench/results/protocol.json``.  The script always exits 0:
it measures, it does not judge.

Where valgrind is installed (it is on the project's machines), the script also counts
instructions per item for core and Olm under callgrind (``--no-instructions`` skips
this, about 30 s): the machine's speed drifts, and it hits the interpreter harder than
Olm's compiled code, so the time ratio moves between runs while the instruction ratio
does not.

Run: ``.venv/bin/python bench/protocol.py [--items N] [--repetitions R]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import vodozemac
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from backchannel.protocol import Message
from backchannel.testing import ChannelPair

ITEM_BYTES = 1024
AD_BYTES = 32
TARGET_CORE_TO_OLM = 3.0
DEFAULT_ITEMS = 100
DEFAULT_REPETITIONS = 151
WARMUP_ITEMS = 200
# Per benchmark; keeps the whole run well under a minute even on a slow machine.
TIME_BUDGET_SECONDS = 12.0
INSTRUCTION_ITEMS = (100, 500)
RESULTS = Path(__file__).parent / "results" / "protocol.json"

# Runs the measured operation on that many items.
Runner = Callable[[int], None]


def core_runner(with_ack: bool, version: int = 2) -> Runner:
    """Send and receive (and perhaps acknowledge) 1 KiB messages from A to B, in
    envelopes of ``version`` (1: a channel paired before version 2, for comparison)."""
    pair = ChannelPair.create(version=version)
    a, b, now = pair.a.channel, pair.b.channel, pair.clock()
    message = Message(
        text="x" * ITEM_BYTES, language="en", from_role="officer", to_role="principal"
    )

    def run(n: int) -> None:
        for _ in range(n):
            b.receive(a.send_item(message, now), now)
            if with_ack:
                a.receive_ack(b.ack())
        # One cumulative ack per round keeps A within its cap on unacknowledged
        # envelopes, as a driver batching its acks would (≤ 1 ack per 20 items).
        a.receive_ack(b.ack())
        if a.acked_seq != a.sent_seq or b.received_seq != a.sent_seq:
            raise RuntimeError("the channel fell out of step")

    return run


def olm_runner() -> Runner:
    """Encrypt on one Olm session, decrypt on its peer, always in the same direction."""
    alice, bob = vodozemac.Account(), vodozemac.Account()
    bob.generate_one_time_keys(1)
    one_time_key = next(iter(bob.one_time_keys.values()))
    outbound = alice.create_outbound_session(bob.curve25519_key, one_time_key)
    first = outbound.encrypt(b"hello").to_pre_key()
    if first is None:
        raise RuntimeError("the first Olm message is not a pre-key message")
    inbound, _ = bob.create_inbound_session(alice.curve25519_key, first)
    # One reply, so that alice sends normal messages, as a confirmed channel does.
    outbound.decrypt(inbound.encrypt(b"hello"))
    plaintext = os.urandom(ITEM_BYTES)

    def run(n: int) -> None:
        for _ in range(n):
            if inbound.decrypt(outbound.encrypt(plaintext)) != plaintext:
                raise RuntimeError("Olm round trip changed the plaintext")

    return run


def aead_runner() -> Runner:
    """Encrypt and decrypt 1 KiB with ChaCha20-Poly1305, a fresh nonce each time."""
    cipher = ChaCha20Poly1305(ChaCha20Poly1305.generate_key())
    plaintext, ad = os.urandom(ITEM_BYTES), os.urandom(AD_BYTES)
    counter = 0

    def run(n: int) -> None:
        nonlocal counter
        for _ in range(n):
            counter += 1
            nonce = counter.to_bytes(12, "little")
            if cipher.decrypt(nonce, cipher.encrypt(nonce, plaintext, ad), ad) != plaintext:
                raise RuntimeError("AEAD round trip changed the plaintext")

    return run


def time_us_per_item(run: Runner, n: int) -> float:
    """Microseconds per item for one repetition of ``n`` items, GC paused."""
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.thread_time()
        run(n)
        elapsed = time.thread_time() - start
    finally:
        if gc_was_enabled:
            gc.enable()
    return elapsed / n * 1e6


def items_within_budget(warmup_us: dict[str, float], items: int, repetitions: int) -> int:
    """``items``, lowered if the slowest benchmark would overrun its time budget."""
    slowest_us = max(warmup_us.values())
    affordable = int(TIME_BUDGET_SECONDS * 1e6 / (slowest_us * repetitions))
    return max(20, min(items, affordable))


def measure(
    runners: dict[str, Runner], items: int, repetitions: int
) -> tuple[int, dict[str, list[float]]]:
    """Warm every runner up, then time them in interleaved rounds; return n and the samples."""
    warmup_us = {name: time_us_per_item(run, WARMUP_ITEMS) for name, run in runners.items()}
    n = items_within_budget(warmup_us, items, repetitions)
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repetitions):
        for name, run in runners.items():
            samples[name].append(time_us_per_item(run, n))
    return n, samples


def summarise(n: int, samples: dict[str, list[float]], repetitions: int) -> dict[str, object]:
    core, olm, aead = (statistics.median(samples[k]) for k in ("core", "olm", "aead"))
    # The ratio is the median of per-round ratios: core and Olm timed back to back
    # share the machine's speed of that moment, which drifts by half or more here.
    ratio_olm = statistics.median(
        c / o for c, o in zip(samples["core"], samples["olm"], strict=True)
    )
    return {
        "core_us": round(core, 3),
        "olm_us": round(olm, 3),
        "aead_us": round(aead, 3),
        "ratio_core_to_olm": round(ratio_olm, 3),
        "ratio_core_to_aead": round(core / aead, 3),
        "core_with_ack_us": round(statistics.median(samples["core_with_ack"]), 3),
        "target_core_to_olm": TARGET_CORE_TO_OLM,
        "target_met": ratio_olm <= TARGET_CORE_TO_OLM,
        "item_bytes": ITEM_BYTES,
        "n": n,
        "repetitions": repetitions,
        "min_us": {k: round(min(vs), 3) for k, vs in samples.items()},
        "ratio_core_to_olm_of_minima": round(min(samples["core"]) / min(samples["olm"]), 3),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "versions": {p: version(p) for p in ("vodozemac", "cryptography", "msgspec", "pynacl")},
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def instructions_per_item(which: str) -> float | None:
    """Instructions per item under valgrind's callgrind, or None without valgrind.

    Instruction counts do not depend on what else the machine is doing, so they give
    a second, noise-free ratio.  Two runs of different lengths are subtracted so that
    start-up (interpreter, imports, pairing) cancels out.
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    counts = []
    for n in INSTRUCTION_ITEMS:
        command = [
            valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null",
            sys.executable, __file__, "--only", which, "--items", str(n),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
        match = re.search(r"Collected : (\d+)", done.stderr)
        if match is None:
            raise RuntimeError(f"callgrind printed no count: {done.stderr[-300:]}")
        counts.append(int(match.group(1)))
    return (counts[1] - counts[0]) / (INSTRUCTION_ITEMS[1] - INSTRUCTION_ITEMS[0])


def add_instruction_counts(result: dict[str, object]) -> None:
    core, olm = instructions_per_item("core"), instructions_per_item("olm")
    if core is not None and olm is not None:
        result["instructions_per_item"] = {"core": round(core), "olm": round(olm)}
        result["ratio_core_to_olm_instructions"] = round(core / olm, 3)


def report(result: dict[str, object]) -> None:
    print(f"per 1 KiB item, median of {result['repetitions']} x {result['n']} items")
    print(f"  {'what':<44} {'µs/item':>9}")
    print(f"  {'core: send_item + receive':<44} {result['core_us']:>9.1f}")
    ack_label = "core + ack + receive_ack (one ack per item)"
    print(f"  {ack_label:<44} {result['core_with_ack_us']:>9.1f}")
    print(f"  {'olm:  vodozemac encrypt + decrypt':<44} {result['olm_us']:>9.1f}")
    print(f"  {'aead: ChaCha20-Poly1305 encrypt + decrypt':<44} {result['aead_us']:>9.1f}")
    print(f"ratio_core_to_olm  = {result['ratio_core_to_olm']:.2f}")
    print(f"ratio_core_to_aead = {result['ratio_core_to_aead']:.2f}")
    if "ratio_core_to_olm_instructions" in result:
        ratio = result["ratio_core_to_olm_instructions"]
        print(f"ratio_core_to_olm in instructions (callgrind) = {ratio:.2f}")
    verdict = "met" if result["target_met"] else "NOT met"
    print(f"target ratio_core_to_olm <= {TARGET_CORE_TO_OLM:g}: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=DEFAULT_ITEMS, help="items per repetition")
    parser.add_argument("--repetitions", type=int, default=DEFAULT_REPETITIONS)
    parser.add_argument(
        "--no-instructions", action="store_true", help="skip the callgrind instruction counts"
    )
    parser.add_argument("--only", choices=["core", "olm"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:  # one bare run, for callgrind to count
        (core_runner(with_ack=False) if args.only == "core" else olm_runner())(args.items)
        return
    runners = {
        "core": core_runner(with_ack=False),
        "core_with_ack": core_runner(with_ack=True),
        "olm": olm_runner(),
        "aead": aead_runner(),
    }
    n, samples = measure(runners, args.items, args.repetitions)
    result = summarise(n, samples, args.repetitions)
    if not args.no_instructions:
        add_instruction_counts(result)
    report(result)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
