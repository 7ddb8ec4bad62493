"""Bounded coverage-guided fuzzing of every decoder (``fuzz/``), and its crashes replayed.

Each target runs in its own process under atheris for a fixed number of inputs
(``RUNS``; ``make fuzz`` runs each for minutes).  An input that once crashed a
decoder is kept under ``fuzz/crashes/TARGET/`` and must now be answered with the
decoder's own error.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
FUZZ = ROOT / "fuzz"
sys.path.insert(0, str(FUZZ))

import targets  # noqa: E402

# Inputs per target in `make test`: the signature checks make bundles and keys slow.
RUNS = {name: 3000 for name in targets.TARGETS} | {"bundle": 150, "keys": 400}


def fuzzed(name: str, folder: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, str(FUZZ / "run.py"), name, f"-runs={RUNS[name]}",
        f"-artifact_prefix={folder}/", "-print_final_stats=1",
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str, int]]:
    """Every target's bounded run, one process per core side by side: (artifacts, its
    standard error, its exit code) by target."""
    folders = {name: tmp_path_factory.mktemp(f"fuzz-{name}") for name in targets.TARGETS}
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        done = dict(zip(folders, pool.map(fuzzed, folders, folders.values()), strict=True))
    return {name: (folders[name], d.stderr, d.returncode) for name, d in done.items()}


@pytest.mark.parametrize("name", sorted(targets.TARGETS))
def test_a_bounded_fuzzing_run_finds_no_crash(
    name: str, runs: dict[str, tuple[Path, str, int]]
) -> None:
    folder, stderr, code = runs[name]
    assert code == 0, stderr[-3000:]
    assert f"Done {RUNS[name]} runs" in stderr
    assert not list(folder.glob("crash-*"))


KEPT = sorted((FUZZ / "crashes").glob("*/*"))


@pytest.mark.parametrize("kept", KEPT, ids=[f"{p.parent.name}/{p.name}" for p in KEPT])
def test_what_once_crashed_a_decoder_is_refused_in_its_own_words(kept: Path) -> None:
    targets.check(kept.parent.name, kept.read_bytes())  # raises anything but its errors


def test_every_decoder_is_a_target() -> None:
    assert set(targets.TARGETS) == {
        "envelope", "ack", "heads", "batch", "invitation", "acceptance", "bundle", "keys",
        "snapshot", "item", "witness", "attachment",
    }  # fmt: skip
    for name in targets.TARGETS:
        assert targets.seeds(name), name
