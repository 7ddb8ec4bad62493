"""What refused or repeated peer requests from one network may cost the station.

The peer routes take envelopes from anyone (envelopes authenticate themselves), so
garbage, and one captured envelope replayed without end, are answered, each at some
cost.  Every such answer takes a token from its source network's bucket (a /24 for
IPv4, a /64 for IPv6, so that rotating addresses in a block does not buy a fresh
bucket), and a network with none left is refused (429) before its body is read.  A
network may also have only a few peer requests open at once, so that a few slow
bodies cannot hold the memory budget of all peer bodies.  A real peer's traffic is
neither refused nor repeated, save a retransmission after a lost ack, and is posted
one request at a time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from backchannel.station.core.throttle import network_of

MAX_NETWORKS = 10_000  # remembered at once; the least recently charged are forgotten


class CostBuckets:
    def __init__(self, rate: float = 20.0, burst: float = 60.0, open_at_once: int = 4) -> None:
        self.rate, self.burst, self.open_at_once = rate, burst, open_at_once
        self._tokens: dict[str, tuple[float, float]] = {}  # network -> (tokens, at)
        self._open: Counter[str] = Counter()
        self._lock = threading.Lock()

    def allows(self, address: str) -> bool:
        with self._lock:
            return self._level(network_of(address), time.monotonic()) >= 1.0

    def enter(self, address: str) -> bool:
        """Room for one more open request from this network (False: refuse it)."""
        network = network_of(address)
        with self._lock:
            if self._open[network] >= self.open_at_once:
                return False
            self._open[network] += 1
            return True

    def leave(self, address: str) -> None:
        network = network_of(address)
        with self._lock:
            self._open[network] -= 1
            if self._open[network] <= 0:
                del self._open[network]

    def charge(self, address: str) -> None:
        network, now = network_of(address), time.monotonic()
        with self._lock:
            level = self._level(network, now)
            self._tokens.pop(network, None)  # re-inserted last: the newest charged
            if len(self._tokens) >= MAX_NETWORKS:
                for oldest in list(self._tokens)[: MAX_NETWORKS // 2]:
                    del self._tokens[oldest]  # full again after their quiet time anyway
            self._tokens[network] = (level - 1.0, now)

    def _level(self, network: str, now: float) -> float:
        tokens, at = self._tokens.get(network, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)
