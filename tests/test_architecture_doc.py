"""docs/architecture.md matches the code: its hook kinds and its tree."""

from __future__ import annotations

import re
from pathlib import Path

from backchannel.station.core.hooks import kinds

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "architecture.md").read_text()
STATION = ROOT / "src" / "backchannel" / "station"


def test_the_hook_table_lists_exactly_the_kinds_in_the_code() -> None:
    section = DOC.split("## Hook kinds", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE)
    assert sorted(listed) == sorted(kinds())


def test_the_tree_names_every_package_and_module_of_the_station() -> None:
    tree = DOC.split("## The tree", 1)[1].split("\n## ", 1)[0]
    packages = sorted(p.name for p in STATION.iterdir() if (p / "__init__.py").exists())
    assert packages and all(f"{name}/" in tree for name in packages)
    modules = [
        p.name for p in STATION.rglob("*.py") if p.name != "__init__.py"
    ]  # every module, by its file name
    missing = sorted({m for m in modules if m not in tree and m.removesuffix(".py") not in tree})
    assert missing == []
