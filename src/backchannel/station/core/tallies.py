"""Counts of refused and repeated peer input, kept in memory and written in batches.

Anyone can send a station garbage, or replay one captured envelope a thousand times.
Counting each in its own durable transaction would let them buy a disk flush per
request, queued behind the same write lock as real traffic.  So counts gather here
and are written together (``Station.flush_tallies``) by the delivery worker about
once a second, and when the station closes; status adds what is not written yet.
"""

from __future__ import annotations

import threading
from collections import Counter

REFUSED, DUPLICATES = "bad_input", "duplicates"


class Tallies:
    def __init__(self) -> None:
        self._counts: Counter[tuple[str | None, str]] = Counter()
        self._lock = threading.Lock()

    def add(self, channel_id: str | None, kind: str, n: int = 1) -> None:
        with self._lock:
            self._counts[(channel_id, kind)] += n

    def pending(self, channel_id: str | None, kind: str) -> int:
        with self._lock:
            return self._counts[(channel_id, kind)]

    def take(self) -> Counter[tuple[str | None, str]]:
        """Everything counted since the last take (the caller writes it)."""
        with self._lock:
            taken, self._counts = self._counts, Counter()
        return taken

    def give_back(self, counts: Counter[tuple[str | None, str]]) -> None:
        """Counts whose write failed, kept for the next one."""
        with self._lock:
            self._counts.update(counts)
