"""The sign-in gate: failure throttles and the few slots in which argon2 may run.

A sign-in costs one argon2id verification: 64 MiB and about a quarter of a second of
one core.  So before any of that work, a sign-in must pass four throttles, each a
count of recent failures: by client address, by its network (/24 for IPv4, /64 for
IPv6, so one host with many addresses counts once), by the name tried (unknown names
included; known accounts also lock in the database) and overall.  Then it must find
room (``admit``): ``slots`` argon2 checks at a time and ``queue`` waiting, else it is
told at once that the station is busy — both checks run on the event loop, before
any thread, database or template is touched, so a refusal costs next to nothing.
And argon2 runs at most ``duty`` of the time in each slot: after a check that took
t seconds the slot stays shut for t * (1 - duty) / duty more, so a flood costs at
most half a core and the other work of the station keeps the rest.  Nobody waits
for that pause but the next sign-in in the queue.

The counts live in memory, per process: a restart forgets them (the lockout in the
database does not), and several workers each keep their own.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from backchannel.station.core.errors import Busy, TooManyAttempts

WINDOW = 600.0  # seconds a failure counts
MAX_KEYS = 10_000  # remembered addresses, networks or names per throttle


@dataclass(frozen=True)
class GateLimits:
    per_address: int = 20
    per_network: int = 30
    per_name: int = 20
    overall: int = 1000
    slots: int = 1
    slot_wait: float = 3.0
    queue: int = 3
    duty: float = 0.5  # the share of a slot's time that argon2 may use


class FailureCount:
    """Failures per key within the window (memory bounded)."""

    def __init__(self, limit: int, window: float = WINDOW) -> None:
        self.limit, self.window = limit, window
        self._recent: dict[str, deque[float]] = {}

    def full(self, key: str, now: float) -> bool:
        return len(self._prune(key, now)) >= self.limit

    def add(self, key: str, now: float) -> None:
        recent = self._prune(key, now)
        if not recent and len(self._recent) >= MAX_KEYS:
            self._forget_old(now)
        self._recent.setdefault(key, deque(maxlen=self.limit)).append(now)

    def _prune(self, key: str, now: float) -> deque[float]:
        recent = self._recent.get(key)
        if recent is None:
            return deque()
        while recent and recent[0] < now - self.window:
            recent.popleft()
        return recent

    def _forget_old(self, now: float) -> None:
        for key in [k for k, times in self._recent.items() if times[-1] < now - self.window]:
            del self._recent[key]
        if len(self._recent) >= MAX_KEYS:  # all recent: an attack; keep the newest half
            newest = sorted(self._recent, key=lambda k: self._recent[k][-1])
            for key in newest[: MAX_KEYS // 2]:
                del self._recent[key]


def network_of(address: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) an address belongs to; other strings as they are."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class SignInGate:
    """Refuses sign-ins from where too many failed, and rations argon2."""

    def __init__(self, limits: GateLimits | None = None) -> None:
        self.limits = limits = limits or GateLimits()
        self._counts = {
            "address": FailureCount(limits.per_address),
            "network": FailureCount(limits.per_network),
            "name": FailureCount(limits.per_name),
            "overall": FailureCount(limits.overall),
        }
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(limits.slots)
        self._inside = 0  # sign-ins admitted: checking, or waiting for a slot

    def check(self, address: str, name: str) -> None:
        """Raise TooManyAttempts if any throttle is full for this attempt."""
        now = time.monotonic()
        with self._lock:
            for kind, key in self._keys(address, name):
                if self._counts[kind].full(key, now):
                    raise TooManyAttempts(_REFUSALS[kind])

    def failed(self, address: str, name: str) -> None:
        now = time.monotonic()
        with self._lock:
            for kind, key in self._keys(address, name):
                self._counts[kind].add(key, now)

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """Room for one more sign-in (checking or queued), or Busy at once.

        Cheap and without waiting: the web route asks on its event loop, before it
        hands the sign-in to a thread.
        """
        with self._lock:
            if self._inside >= self.limits.slots + self.limits.queue:
                raise Busy("the station is busy with other sign-ins; try again in a moment")
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1

    @contextmanager
    def slot(self) -> Iterator[None]:
        """One of the argon2 slots (waiting at most ``slot_wait``), or Busy."""
        if not self._slots.acquire(timeout=self.limits.slot_wait):
            raise Busy("the station is busy with other sign-ins; try again in a moment")
        began = time.monotonic()
        try:
            yield
        finally:
            spent = time.monotonic() - began
            pause = spent * (1 - self.limits.duty) / self.limits.duty
            if pause > 0:  # the slot reopens later; this sign-in goes on at once
                timer = threading.Timer(pause, self._slots.release)
                timer.daemon = True
                timer.start()
            else:
                self._slots.release()

    @staticmethod
    def _keys(address: str, name: str) -> tuple[tuple[str, str], ...]:
        return (
            ("address", address),
            ("network", network_of(address)),
            ("name", name),
            ("overall", ""),
        )


_REFUSALS = {
    "address": "too many failed sign-ins from this address; wait a while",
    "network": "too many failed sign-ins from this network; wait a while",
    "name": "too many failed sign-ins for this name; wait a while",
    "overall": "too many failed sign-ins at this station; wait a while",
}
