"""What the access audit trail costs: showing items with and without recording them.

Every item shown to an officer is first appended to the HMAC-chained audit trail (one
record per item, one transaction per answer).  This measures, on one station with a
SQLite store and ``--items`` received messages:

- ``plain_ms``: reading the channel's transcript (``Station.transcript``: select,
  unseal, decode), the work of showing it without the audit;
- ``audited_ms``: the same through ``Door.thread``, as the web UI and the API do it:
  the clearance filter plus one audit record per item shown, committed durably;
- ``ratio``: audited / plain, the median of per-round ratios (the two are timed back to
  back in each round, so the machine's drift cancels out);
- ``verify_links_per_s``: how fast ``audit verify`` walks the chain afterwards.

Results go to ``bench/results/audit.json``.  Loops are bounded; nothing listens on a
socket.  Run: ``.venv/bin/python bench/audit.py [--items N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.station.test_store import deliver, paired_in_process  # noqa: E402

from backchannel.protocol import Message  # noqa: E402
from backchannel.station.access.door import Door  # noqa: E402
from backchannel.station.access.policy import Officer  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "audit.json"


# About 1 KiB of prose, so that each item shown carries canary marks as real text does.
PROSE = (
    "The Ministry wishes to notify the neighbouring command that the exercise will be "
    "conducted during the period 23 March 2026 to 2 April 2026 with approximately four "
    "hundred personnel and two battalions. The organisers recognise the need for dialogue "
    "in order to co-ordinate the cease-fire, and will analyse each manoeuvre reported "
    "within 25 km of the line. Colonel Dantor will summarise the results and would be "
    "grateful for an early reply. In addition, both of the parties recognise that the "
    "demilitarisation of the zone is a long-standing aim, and they agree to minimise the "
    "presence of armoured vehicles near the centre of the valley at all times, to inform "
    "each other each day of any movement of more than 5 vehicles, and to meet again "
    "before the next rotation of the observers at the crossing points of the valley."
) * 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a, b = paired_in_process(Path(tmp))
        channel = a.resolve(None)
        for i in range(args.items):
            text = f"Item {i:05d}. {PROSE}"[:1024]
            a.send(channel, Message(text=text, language="en", from_role="officer",
                                    to_role="principal"))  # fmt: skip
        deliver(a, b)
        door = Door(b)
        reader = Officer(1, "bench-reader", "reader", frozenset())
        plain, audited, ratios = [], [], []
        for _ in range(args.rounds):
            started = time.perf_counter()
            b.transcript(None)
            middle = time.perf_counter()
            door.thread(reader, channel, "bench")
            ended = time.perf_counter()
            plain.append((middle - started) * 1000)
            audited.append((ended - middle) * 1000)
            ratios.append((ended - middle) / (middle - started))
        started = time.perf_counter()
        verdict = b.audit.verify()
        verify_s = time.perf_counter() - started
        a.close()
        b.close()
    figures = {
        "items_shown": args.items, "rounds": args.rounds,
        "plain_ms": round(statistics.median(plain), 2),
        "audited_ms": round(statistics.median(audited), 2),
        "ratio": round(statistics.median(ratios), 2),
        "audit_ms_per_item": round(
            (statistics.median(audited) - statistics.median(plain)) / args.items, 3
        ),
        "verify_links": verdict.links, "verify_ok": verdict.ok,
        "verify_links_per_s": round(verdict.links / verify_s),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures, indent=2))
    print(f"showing {args.items} items with the audit costs {figures['ratio']}x showing them "
          f"without; figures in {RESULTS.relative_to(ROOT)}")  # fmt: skip


if __name__ == "__main__":
    main()
