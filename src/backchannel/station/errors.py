"""What a station tells its user when it cannot do what was asked."""

from __future__ import annotations


class StationError(Exception):
    """Something the user asked for cannot be done; the message says why."""


class ChannelNotFound(StationError):
    """No channel matches what the user named."""


class InvalidRequest(StationError):
    """The protocol core refused what the user asked for (a bad item, a wrong state)."""
