"""Fault injection points, for the crash tests and nothing else.

``BACKCHANNEL_FAULT=NAME@N`` makes the N-th pass through ``fault_point(NAME)`` end the
process at once, as a power cut would: no cleanup, no flush, exit code 99.  Unset
(always, outside tests) each point costs one dictionary lookup.
"""

from __future__ import annotations

import os

_passes: dict[str, int] = {}


def fault_point(name: str) -> None:
    spec = os.environ.get("BACKCHANNEL_FAULT")
    if not spec:
        return
    target, _, count = spec.partition("@")
    if target != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] >= int(count or 1):
        os._exit(99)
