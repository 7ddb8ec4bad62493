"""Fault injection points, for the crash tests and nothing else.

``BACKCHANNEL_FAULT=NAME@N`` (a test hook: see ``testhooks.py``) makes the N-th pass
through ``fault_point(NAME)`` end the process at once, as a power cut would: no
cleanup, no flush, exit code 99.  Read at the first point passed; outside tests each
point costs one comparison.
"""

from __future__ import annotations

import functools
import os

from backchannel.station.core.testhooks import hook

_passes: dict[str, int] = {}


@functools.cache
def _spec() -> str | None:
    return hook("BACKCHANNEL_FAULT")


def fault_point(name: str) -> None:
    spec = _spec()
    if not spec:
        return
    target, _, count = spec.partition("@")
    if target != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] >= int(count or 1):
        os._exit(99)
