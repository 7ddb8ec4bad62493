"""The deadline watch: a thread that expires proposals and escalates what is overdue.

Every ``WATCH_EVERY`` seconds it asks the station to check its deadlines.  An overdue
item is escalated once: shown to the principal (the Due page), written to the audit
trail, reminded to the counterpart over the channel when they owe the answer, and —
when the station has a ``webhook_url`` — posted there as JSON without any content.
"""

from __future__ import annotations

import logging
import threading

import httpx

from backchannel.station.core.ledger import Ledger
from backchannel.station.core.testhooks import number

log = logging.getLogger("backchannel.deadlines")
WATCH_EVERY = 15.0  # tests look more often (BACKCHANNEL_WATCH_EVERY)


class DeadlineWatch:
    def __init__(self, station: Ledger, every: float | None = None) -> None:
        self.station = station
        self.every = every if every is not None else number("BACKCHANNEL_WATCH_EVERY", WATCH_EVERY)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
        self._client = httpx.Client(timeout=httpx.Timeout(5.0, connect=3.0))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                for item in self.station.check_deadlines(self._notify):
                    log.warning(
                        "overdue: %s owed by %s on item %s",
                        item.kind,
                        item.owed_by,
                        item.item_hash[:16],
                    )
                self.station.witnessing.send_due(self.station.clock())
            except Exception:  # keep watching whatever happens
                log.exception("deadline check failed")

    def _notify(self, event: dict[str, object]) -> str:
        url = self.station.config.webhook_url
        if not url:
            return ""
        try:
            response = self._client.post(url, json=event)
        except httpx.HTTPError as exc:
            return f"webhook failed: {type(exc).__name__}"
        return f"webhook answered {response.status_code}"
