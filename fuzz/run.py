"""Coverage-guided fuzzing of one decoder with atheris (libFuzzer's engine).

    .venv/bin/python fuzz/run.py TARGET [libFuzzer flags: -runs=N, -max_total_time=S, ...]
    .venv/bin/python fuzz/run.py --list

TARGET is one of ``targets.TARGETS``.  The seeds (``targets.seeds``) and any input kept
under ``fuzz/crashes/TARGET/`` start the corpus; the modules of ``backchannel`` are
instrumented for coverage.  A crash writes its input where ``-artifact_prefix`` says
and exits non-zero: copy it to ``fuzz/crashes/TARGET/`` and the tests replay it for
good (``tests/fuzz/test_decoders.py``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

with atheris.instrument_imports(include=["backchannel", "targets"]):
    import targets


def main() -> None:
    if sys.argv[1:] == ["--list"]:
        print("\n".join(targets.TARGETS))
        return
    if len(sys.argv) < 2 or sys.argv[1] not in targets.TARGETS:
        sys.exit(f"usage: run.py TARGET [flags]; TARGET is one of {', '.join(targets.TARGETS)}")
    name, flags = sys.argv[1], sys.argv[2:]
    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    for index, seed in enumerate(targets.seeds(name)):
        (corpus / f"seed-{index}").write_bytes(seed)
    for kept in sorted((HERE / "crashes" / name).glob("*")):
        (corpus / kept.name).write_bytes(kept.read_bytes())

    def one_input(data: bytes) -> None:
        targets.check(name, data)

    atheris.Setup([sys.argv[0], *flags, str(corpus)], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
