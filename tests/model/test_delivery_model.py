"""The model of delivery, checked by spin on its small bounds (model/check.py): every
configuration holds, and each mechanism taken out of the model is found missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = Path(__file__).parents[2] / "model" / "check.py"


def test_the_model_holds_and_finds_each_mechanism_taken_out() -> None:
    done = subprocess.run(
        [sys.executable, str(CHECK)], capture_output=True, text=True, timeout=300, check=False
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    held = [line for line in lines if ": holds (" in line]
    found = [line.split(": finds ")[0] for line in lines if ": finds " in line]
    assert len(held) == 2, lines
    assert found == [
        "without write-ahead",
        "without the heads comparison",
        "with the first early copy winning in silence",
    ]
