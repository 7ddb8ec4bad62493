"""Bounded coverage-guided fuzzing of every decoder (``fuzz/``), and its crashes replayed.

Each target runs in its own process under atheris for a fixed number of inputs
(``RUNS``; ``make fuzz`` runs each for minutes).  An input that once crashed a
decoder is kept under ``fuzz/crashes/TARGET/`` and must now be answered with the
decoder's own error.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
FUZZ = ROOT / "fuzz"
sys.path.insert(0, str(FUZZ))

import targets  # noqa: E402

# Inputs per target in `make test`: the signature checks make bundles and keys slow.
RUNS = {name: 3000 for name in targets.TARGETS} | {"bundle": 150, "keys": 400}


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_a_bounded_fuzzing_run_finds_no_crash(name: str, tmp_path: Path) -> None:
    command = [
        sys.executable, str(FUZZ / "run.py"), name, f"-runs={RUNS[name]}",
        f"-artifact_prefix={tmp_path}/", "-print_final_stats=1",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Done {RUNS[name]} runs" in done.stderr
    assert not list(tmp_path.glob("crash-*"))


KEPT = sorted((FUZZ / "crashes").glob("*/*"))


@pytest.mark.parametrize("kept", KEPT, ids=[f"{p.parent.name}/{p.name}" for p in KEPT])
def test_what_once_crashed_a_decoder_is_refused_in_its_own_words(kept: Path) -> None:
    targets.check(kept.parent.name, kept.read_bytes())  # raises anything but its errors


def test_every_decoder_is_a_target() -> None:
    assert set(targets.TARGETS) == {
        "envelope", "ack", "heads", "batch", "invitation", "acceptance", "bundle", "keys",
        "snapshot", "item",
    }  # fmt: skip
    for name in targets.TARGETS:
        assert targets.seeds(name), name
