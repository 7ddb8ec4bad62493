"""What a station tells its user when it cannot do what was asked."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec

from backchannel.protocol import ProtocolError

T = TypeVar("T")
# What the peer endpoint answers for an unknown channel and for a closed one alike.
NO_OPEN_CHANNEL = "no open channel of this station has that id"


class StationError(Exception):
    """Something the user asked for cannot be done; the message says why."""


class ChannelNotFound(StationError):
    """No channel matches what the user named."""


class ChannelClosed(StationError):
    """The channel takes nothing more (restored from a backup); pair again (HTTP 409)."""


class InvalidRequest(StationError):
    """The protocol core refused what the user asked for (a bad item, a wrong state)."""


class Flagged(InvalidRequest):
    """An item was not sent because a feature flagged it (``Feature.flags``); it goes
    only when the officer sends it despite the flags, which the message lists."""

    def __init__(self, flags: list[str]) -> None:
        self.flags = tuple(flags)
        super().__init__(f"not sent, {len(flags)} flagged: " + "; ".join(flags))


class NotSignedIn(StationError):
    """No valid session or API token (HTTP 401)."""


class Forbidden(StationError):
    """The officer's role or clearance does not allow this (HTTP 403)."""


class TooManyAttempts(StationError):
    """Sign-in attempts are being refused for a while (HTTP 429)."""


class Busy(StationError):
    """The station cannot take this now; the sender should try again (HTTP 503)."""


def guard(action: Callable[[], T]) -> T:
    """Run a protocol step, turning our caller's mistakes into a StationError."""
    try:
        return action()
    except (ProtocolError, msgspec.ValidationError) as exc:
        raise InvalidRequest(str(exc)) from None
