"""Check the model of delivery (model/delivery.pml) with spin, one configuration at a time.

    python model/check.py           the bounded run, seconds (part of `make test`)
    python model/check.py --full    the long run, minutes (`make model-check`)

Every configuration must be searched to the end (no memory or depth limit reached) and
every assertion must hold.  Each protocol mechanism the model can be run without —
write-ahead persistence, the heads comparison after a start, the alarm on two early
envelopes at one position — must then be *missed*: the same search finds the
counterexample, so the check can fail.  See docs/protocol.md, "The model of delivery".
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

MODEL = Path(__file__).with_name("delivery.pml")
SMALL = {"LOSSES": 1, "DUPLICATES": 0}
NO_PUT_BACK = {"ROLLBACK_A": 0, "ROLLBACK_B": 0}


@dataclass(frozen=True)
class Run:
    name: str
    defines: dict[str, int]
    broken: str = ""  # for a run without a mechanism: the assertion it must violate


BOUNDED = (
    Run("2 items, a crash of each side", {"ITEMS": 2, **NO_PUT_BACK, **SMALL}),
    Run("1 item, every fault", {"ITEMS": 1, **SMALL}),
)
BROKEN = (
    Run("without write-ahead", {"ITEMS": 1, "WRITE_AHEAD": 0, **NO_PUT_BACK}, "a_put_back"),
    Run("without the heads comparison", {"ITEMS": 1, "HEADS": 0, "CRASHES": 0, **SMALL},
        "b_done>="),
    Run("with the first early copy winning in silence",
        {"ITEMS": 2, "HELD_FORK": 0, "CRASHES": 0, "ROLLBACK_B": 0, "LOSSES": 0,
         "DUPLICATES": 0}, "b_twice"),
)  # fmt: skip
FULL = (
    Run("2 items, A's storage put back, 1 loss",
        {"ITEMS": 2, "CRASHES": 0, "ROLLBACK_B": 0, **SMALL}),
    Run("2 items, B's storage put back, 1 loss",
        {"ITEMS": 2, "CRASHES": 0, "ROLLBACK_A": 0, **SMALL}),
    Run("3 items, a crash of each side, 1 loss", {"ITEMS": 3, **NO_PUT_BACK, **SMALL}),
    Run("2 items, a crash of each side, 2 losses, 1 duplicate", {"ITEMS": 2, **NO_PUT_BACK}),
    Run("2 items, A's storage put back, 2 losses, 1 duplicate",
        {"ITEMS": 2, "CRASHES": 0, "ROLLBACK_B": 0}),
    Run("2 items, B's storage put back, 2 losses, 1 duplicate",
        {"ITEMS": 2, "CRASHES": 0, "ROLLBACK_A": 0}),
    Run("1 item, every fault, 2 losses, 1 duplicate", {"ITEMS": 1}),
)  # fmt: skip


@dataclass(frozen=True)
class Result:
    states: int
    seconds: float
    violated: str  # the assertion violated, or ""


class ModelError(Exception):
    """The model cannot be checked here, or a search did not finish."""


def search(run: Run, work: Path, memory_mb: int) -> Result:
    """Generate, compile and run the verifier for one configuration."""
    defines = [f"-D{k}={v}" for k, v in sorted(run.defines.items())]
    started = time.monotonic()
    _step(["spin", "-a", *defines, str(MODEL)], work, "spin could not generate the verifier")
    _step(["gcc", "-O1", "-w", "-DSAFETY", "-DCOLLAPSE", f"-DMEMLIM={memory_mb}",
           "-o", "pan", "pan.c"], work, "gcc could not compile the verifier")  # fmt: skip
    done = subprocess.run(
        ["./pan", "-m200000"], cwd=work, capture_output=True, text=True, check=False
    )
    out = done.stdout + done.stderr
    if "depth too small" in out or "MEMLIM" in out or "out of memory" in out:
        raise ModelError(f"{run.name}: the search stopped before the end (memory or depth)")
    states = re.search(r"(\d+) states, stored", out)
    if states is None:
        raise ModelError(f"{run.name}: the verifier said nothing of its search")
    violated = re.search(r"assertion violated (.*?) \(at depth", out)
    errors = re.search(r"errors: (\d+)", out)
    if errors is None or ("Search not completed" in out and not violated):
        raise ModelError(f"{run.name}: the search did not finish")
    if int(errors.group(1)) and not violated:  # an invalid end state: a deadlock
        raise ModelError(f"{run.name}: {out.strip().splitlines()[0]}")
    return Result(int(states.group(1)), time.monotonic() - started,
                  violated.group(1) if violated else "")  # fmt: skip


def _step(command: list[str], work: Path, what: str) -> None:
    done = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ModelError(f"{what}: {(done.stdout + done.stderr).strip().splitlines()[-1:]}")


def check(runs: tuple[Run, ...], memory_mb: int, workers: int = 1) -> list[str]:
    """Each run's line, in order; raises ModelError on the first that does not do as it
    must.  ``workers`` searches run side by side (each within ``memory_mb``)."""
    lines = []
    with ThreadPoolExecutor(workers) as pool:  # each search is its own processes
        results = pool.map(lambda r: _searched(r, memory_mb), runs)
        for run, result in zip(runs, results, strict=True):
            lines.append(_verdict(run, result))
            print(lines[-1], flush=True)
    return lines


def _searched(run: Run, memory_mb: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="backchannel-model-") as folder:
        return search(run, Path(folder), memory_mb)


def _verdict(run: Run, result: Result) -> str:
    if run.broken and run.broken not in result.violated:
        raise ModelError(f"{run.name}: the search did not find the fault it must find")
    if not run.broken and result.violated:
        raise ModelError(f"{run.name}: violated {result.violated}")
    verdict = f"finds {result.violated}" if run.broken else "holds"
    return f"{run.name}: {verdict} ({result.states:,} states, {result.seconds:.1f} s)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the long run (minutes)")
    parser.add_argument("--memory-mb", type=int, default=12000, help="the verifier's limit")
    args = parser.parse_args()
    for tool in ("spin", "gcc"):
        if shutil.which(tool) is None:
            print(f"error: {tool} is missing: run `make spin` (Debian's spin and gcc)")
            return 1
    runs = (FULL if args.full else BOUNDED) + BROKEN
    try:
        if args.full:  # one at a time: each may take most of the memory
            check(runs, args.memory_mb)
        else:  # the small bounds side by side, one per core (2 GB each at most)
            check(runs, 2000, workers=os.cpu_count() or 1)
    except ModelError as exc:
        print(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
