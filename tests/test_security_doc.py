"""docs/security.md names a test for every case: each one it names exists.

A case whose test was renamed or removed would otherwise keep a name that proves
nothing.  This reads every ``tests/…py::test_name`` in the page and looks for that
function (or a parametrised one of that name) in that file.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
NAMED = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def test_every_test_named_in_the_security_page_exists() -> None:
    page = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    named = NAMED.findall(page)
    assert len(named) >= 60
    cases = [line for line in page.splitlines() if re.match(r"\| \d+a? \|", line)]
    assert len(cases) >= 30 and all(NAMED.search(line) for line in cases)
    missing = []
    for path, name in named:
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        defined |= {  # test_x = Machine.TestCase (a Hypothesis state machine)
            t.id for n in ast.walk(tree) if isinstance(n, ast.Assign)
            for t in n.targets if isinstance(t, ast.Name)
        }  # fmt: skip
        if name not in defined:
            missing.append(f"{path}::{name}")
    assert missing == []
