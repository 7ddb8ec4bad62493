"""The import contracts hold, and each one breaks when the code breaks it.

``make test`` runs ``lint-imports`` on the tree; here it runs on a copy of the package
with one forbidden import added, to show that the contract would catch it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True, text=True, env=env, cwd=src, timeout=120, check=False,
    )  # fmt: skip


def test_the_tree_keeps_every_contract() -> None:
    done = lint(ROOT / "src")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (  # the ledger may not know a feature
            "station/core/ledger.py",
            "import backchannel.station.releases.rules",
            "Station layers",
        ),
        (  # one feature may not reach into another
            "station/releases/rules.py",
            "import backchannel.station.negotiation.register",
            "Feature packages do not import each other",
        ),
        (  # the web shell is below the features
            "station/web/pages.py",
            "import backchannel.station.negotiation.desk",
            "Station layers",
        ),
        (  # the ledger's queries may not reach a feature's tables
            "store/repository.py",
            "import backchannel.store.releases",
            "The ledger and its store know no feature's tables",
        ),
        (  # access may not depend on the assembled station
            "station/access/door.py",
            "import backchannel.station.service",
            "Station layers",
        ),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "backchannel", src / "backchannel",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    target = src / "backchannel" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    done = lint(src)
    assert done.returncode != 0
    broken = [ln for ln in done.stdout.splitlines() if ln.endswith("BROKEN")]
    assert any(ln.startswith(contract) for ln in broken), done.stdout[-3000:]
