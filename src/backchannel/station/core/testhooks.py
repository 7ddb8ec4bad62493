"""Test hooks: settings only tests may use, dead unless ``BACKCHANNEL_TEST_HOOKS=1``.

The crash and deadline tests need to kill a station at a chosen point
(``BACKCHANNEL_FAULT``), move its clock (``BACKCHANNEL_CLOCK_OFFSET``), retry and
watch faster (``BACKCHANNEL_MAX_BACKOFF``, ``BACKCHANNEL_WATCH_EVERY``) and hash
passwords cheaply (``BACKCHANNEL_ARGON2=cheap``).  In a deployment each of these
would be a way to stop the station, forge the time of every audit record or weaken
every password, so they are read only when ``BACKCHANNEL_TEST_HOOKS=1`` says this
is a test, and every ``backchannel`` command refuses to run while one is set
without it (``refuse_stray_hooks``).
"""

from __future__ import annotations

import os

ENABLE = "BACKCHANNEL_TEST_HOOKS"
HOOKS = (
    "BACKCHANNEL_FAULT",
    "BACKCHANNEL_CLOCK_OFFSET",
    "BACKCHANNEL_MAX_BACKOFF",
    "BACKCHANNEL_WATCH_EVERY",
    "BACKCHANNEL_ARGON2",
)


class StrayHook(Exception):
    """A test hook is set outside a test."""


def enabled() -> bool:
    return os.environ.get(ENABLE) == "1"


def hook(name: str) -> str | None:
    """The hook's value in a test, None otherwise (or when it is unset or empty)."""
    assert name in HOOKS, name
    return (os.environ.get(name) or None) if enabled() else None


def number(name: str, default: float) -> float:
    """A numeric hook, or ``default`` outside tests."""
    value = hook(name)
    return float(value) if value is not None else default


def refuse_stray_hooks() -> None:
    """Raise if a test hook is set but this is not a test."""
    if enabled():
        return
    stray = [name for name in HOOKS if os.environ.get(name)]
    if stray:
        what = "is a test hook" if len(stray) == 1 else "are test hooks"
        raise StrayHook(
            f"{', '.join(stray)} {what}, ignored outside tests; unset it "
            f"(tests also set {ENABLE}=1)"
        )
